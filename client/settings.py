"""Settings of the load generator (env prefix ``PREDLOG_LOAD_``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from client.shift import parse_shifts
from predlog.settings import PredlogSettings
from predlog.timespec import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, also given as text: 250ms, 60s, 5m, 1h."""


class LoadSettings(PredlogSettings):
    """What one load run does: where, how fast, how long, which rows."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_LOAD_", frozen=True)

    url: str = "http://127.0.0.1:8000"
    """Base URL of the api."""
    rate: float = Field(default=100.0, gt=0)
    """Requests per second, held open-loop (sends never wait for answers)."""
    duration: Seconds | None = Field(default=None, gt=0)
    """How long to send: 60s, 5m, 1h or seconds (default 60s unless a count is given)."""
    count: int | None = Field(default=None, gt=0)
    """Send this many requests instead of running for a duration."""
    outlier_fraction: float = Field(default=0.0, ge=0, le=1)
    """Fraction of rows drawn far outside the training distribution."""
    shift: Annotated[tuple[str, ...], NoDecode] = ()
    """FEATURE=DELTA (repeatable): add DELTA training stds to that feature (name or index)."""
    feedback_fraction: float = Field(default=0.0, ge=0, le=1)
    """Fraction of answered requests whose ground truth is then sent to POST /feedback."""
    feedback_accuracy: float = Field(default=1.0, ge=0, le=1)
    """Probability that a feedback's label is the model's own answer (else another label)."""
    model: str | None = None
    """Model name (default: the api's default model)."""
    version: str | None = None
    """Pin this model version (default: the api's weighted split)."""
    endpoint: str = "/predict"
    """Path the rows are posted to."""
    concurrency_limit: int = Field(default=1000, gt=0)
    """Most requests in flight; sends due beyond it are counted as dropped."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds before an unanswered request counts as an error."""
    seed: int | None = None
    """Seed of the row sampler, for repeatable runs."""
    progress: bool = True
    """Print a progress line to stderr once a second."""

    @field_validator("shift", mode="before")
    @classmethod
    def _parse_shift(cls, value: object) -> tuple[str, ...]:
        return parse_shifts(value)

    @model_validator(mode="after")
    def _bounded(self) -> LoadSettings:
        if self.duration is not None and self.count is not None:
            raise ValueError("give either a duration or a count, not both")
        return self

    @property
    def total(self) -> int:
        """How many sends the schedule holds."""
        if self.count is not None:
            return self.count
        return max(1, round((self.duration or 60.0) * self.rate))
