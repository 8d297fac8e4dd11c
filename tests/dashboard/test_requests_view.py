"""The request page's per-row table: a classifier's rows and a regressor's (no label)."""

from __future__ import annotations

from dashboard.views.requests import rows_table


def test_rows_of_both_kinds_are_tabled() -> None:
    classifier = {
        "inputs": [[5.1, 3.5]],
        "results": [
            {"prediction": [0.9, 0.1], "label": "a", "outlier_score": 0.2, "is_outlier": False}
        ],
    }
    regressor = {
        "inputs": [[1.0, 2.0], [3.0, 4.0]],
        "results": [
            {"prediction": [151.25], "label": None, "outlier_score": 0.3, "is_outlier": False},
            {"prediction": [20.5], "outlier_score": 0.9, "is_outlier": True},  # as sent
        ],
    }
    table = rows_table(classifier, ("x", "y"))
    assert table.loc[0, "label"] == "a"
    assert table.loc[0, "prediction"] == "0.9000, 0.1000"
    table = rows_table(regressor, ("x", "y"))
    assert table["label"].tolist() == ["", ""]
    assert table["prediction"].tolist() == ["151.2500", "20.5000"]
    assert table["is_outlier"].tolist() == [False, True]
