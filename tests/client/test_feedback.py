"""The load generator's feedback: what it reads from each answer shape."""

from __future__ import annotations

from client.feedback import answers


def test_the_answer_shapes_give_a_label_or_a_value_per_row() -> None:
    assert answers({"job_id": "a", "prediction": [0.1, 0.7, 0.2]}) == ("a", [("#1", None)])
    assert answers({"job_id": "b", "prediction": [3.5]}) == ("b", [(None, 3.5)])
    two = {"job_id": "c", "prediction": [[0.9, 0.1], [0.2, 0.8]]}
    assert answers(two) == ("c", [("#0", None), ("#1", None)])
    labelled = {"job_id": "d", "prediction": {"proba": 0.9, "label": "setosa"}}
    assert answers(labelled) == ("d", [("setosa", None)])
    batch = {
        "job_id": "e",
        "results": [{"prediction": [0.2, 0.8], "label": "x"}, {"prediction": [2.0]}],
    }
    assert answers(batch) == ("e", [("x", None), (None, 2.0)])
    assert answers({"error": {"message": "no"}}) is None
    assert answers([1, 2]) is None
