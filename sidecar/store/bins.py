"""The layout of the per-feature histogram rollups: how many bin columns, what each holds.

A numeric slot (an input feature, or a regressor's predicted value) of a version with
interior bins ``1..n`` on its reference edges ``e0 < ... < en`` counts a value in column
``b00`` below ``e0``, in ``bNN`` for ``e(NN-1) <= value < eNN`` (the last interior bin
closed, as ``np.histogram``), and in ``b(n+1)`` above ``en``: open end bins. A classifier's
prediction slot counts class ``k`` in column ``bk``. Columns past a version's last are 0.
"""

from __future__ import annotations

BIN_COLUMN_COUNT = 32
"""Histogram columns per rollup row (``b00`` .. ``b31``)."""
MAX_INTERIOR_BINS = BIN_COLUMN_COUNT - 2
"""Most interior bins of a slot; a bundle with more has neighbouring bins merged."""
MAX_CLASSES = BIN_COLUMN_COUNT
"""Classes counted apart; classes from ``MAX_CLASSES - 1`` on share the last column."""
PREDICTION_SLOT = -1
"""The ``feature`` number of the prediction's distribution (input features are 0, 1, ...)."""
BIN_COLUMNS: tuple[str, ...] = tuple(f"b{i:02d}" for i in range(BIN_COLUMN_COUNT))
"""The histogram columns' names."""
