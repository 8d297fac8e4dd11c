"""``--shift FEATURE=DELTA``: drift injected on purpose, in training standard deviations.

DELTA is in units of the feature's training std (from ``GET /metadata``), so that one value
means the same shift on every feature and every model: ``--shift petal_length=1.5`` moves
that feature of every normal row by 1.5 of its stds. FEATURE is a feature name or a
0-based index. Outlier rows are not shifted (they lie far outside the range anyway).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Protocol


class Named(Protocol):
    """A feature's statistics: only its name is needed here."""

    @property
    def name(self) -> str: ...


def parse_shifts(value: object) -> tuple[str, ...]:
    """``FEATURE=DELTA`` items from a tuple or list of them, a JSON list, or text separated by
    commas or spaces (the environment variable); ValueError for a malformed one."""
    if isinstance(value, str):
        text = value.strip()
        items: Iterable[object] = (
            json.loads(text) if text.startswith("[") else re.split(r"[,\s]+", text)
        )
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError(f"shift must be FEATURE=DELTA items, not {value!r}")
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        feature, sep, delta = text.rpartition("=")
        try:
            number = float(delta)
        except ValueError:
            number = math.nan
        if not sep or not feature.strip() or not math.isfinite(number):
            raise ValueError(f"shift {text!r} is not FEATURE=DELTA (DELTA a number of stds)")
        out.append(f"{feature.strip()}={number:g}")
    return tuple(out)


def shift_vector(stats: Sequence[Named], shifts: Sequence[str]) -> list[float]:
    """Per feature, the stds to add (0 where not shifted); ValueError for an unknown feature."""
    names = [stat.name for stat in stats]
    vector = [0.0] * len(names)
    for item in shifts:
        feature, _, delta = item.rpartition("=")
        if feature in names:
            index = names.index(feature)
        elif feature.isdigit() and int(feature) < len(names):
            index = int(feature)
        else:
            raise ValueError(
                f"--shift {item}: no feature {feature!r} (features: {', '.join(names)})"
            )
        vector[index] += float(delta)
    return vector
