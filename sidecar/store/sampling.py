"""Payload sampling per model: every request keeps its row, a fraction keeps its inputs.

The decision is a function of the job_id (its CRC-32 against the model's fraction), so it
is the same wherever and whenever it is made: a replayed record is sampled as it was the
first time, and the forwarder (``sidecar.onward``) drops the same inputs as the store.
Rollups and feature histograms are computed from the whole records before the inputs
are left out of the rows (``StoreWriter.prepare``): they still count every request.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

from sidecar.record import PredictionRecord

ANY_MODEL = "*"
_SCALE = float(1 << 32)


def parse_fractions(text: str) -> dict[str, float]:
    """``"iris=0.1,*=1"`` -> {"iris": 0.1, "*": 1.0}; ValueError saying what is wrong."""
    fractions: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        model, sep, value = part.partition("=")
        model = model.strip()
        if not sep or not model:
            raise ValueError(f"expected model=fraction, not {part!r}")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"{model}: {value.strip()!r} is not a number") from None
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"{model}: the fraction {fraction} is not between 0 and 1")
        fractions[model] = fraction
    return fractions


class PayloadSampler:
    """Which records keep their inputs in the store."""

    def __init__(self, fractions: Mapping[str, float]) -> None:
        """``fractions``: model -> share of its requests whose inputs are kept ("*": the
        other models; 1 when not given)."""
        self.fractions = dict(fractions)
        self._other = self.fractions.pop(ANY_MODEL, 1.0)

    @classmethod
    def from_text(cls, text: str) -> PayloadSampler | None:
        """The sampler a setting asks for (None: every request keeps its inputs)."""
        fractions = parse_fractions(text)
        if all(fraction >= 1.0 for fraction in fractions.values()):
            return None
        return cls(fractions)

    def keeps(self, record: PredictionRecord) -> bool:
        """Whether ``record``'s inputs are stored."""
        fraction = self.fractions.get(record.model or "", self._other)
        if fraction >= 1.0:
            return True
        return zlib.crc32(record.job_id.encode()) < fraction * _SCALE

    def dropped(self, records: Iterable[PredictionRecord]) -> frozenset[str]:
        """The job_ids of ``records`` whose inputs are left out."""
        return frozenset([r.job_id for r in records if r.inputs is not None and not self.keeps(r)])
