"""Settings of the load generator (env prefix ``PREDLOG_LOAD_``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float) -> float:
    """Seconds in ``"60s"``, ``"5m"``, ``"1h"``, ``"250ms"`` or a bare number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 60s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


class LoadSettings(BaseSettings):
    """What one load run does: where, how fast, how long, which rows."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_LOAD_", frozen=True)

    url: str = "http://127.0.0.1:8000"
    """Base URL of the api."""
    rate: float = Field(default=100.0, gt=0)
    """Requested arrival rate, requests per second (open loop)."""
    duration: float | None = Field(default=None, gt=0)
    """How long to send, in seconds; with ``count`` unset, defaults to 60."""
    count: int | None = Field(default=None, gt=0)
    """How many requests to send (instead of a duration)."""
    outlier_fraction: float = Field(default=0.0, ge=0, le=1)
    """Fraction of requests whose row lies far outside the training distribution."""
    model: str | None = None
    """Model name to ask for (default: the api's default model)."""
    version: str | None = None
    """Pin this model version (default: the api's weighted split)."""
    endpoint: str = "/predict"
    """Path the rows are posted to."""
    concurrency_limit: int = Field(default=1000, gt=0)
    """Most requests in flight at once; a send due past it is counted as dropped."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds before an unanswered request counts as an error."""
    seed: int | None = None
    """Seed of the row sampler, for repeatable runs."""
    progress: bool = True
    """Print a progress line to stderr once a second."""

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value)
        return value

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
