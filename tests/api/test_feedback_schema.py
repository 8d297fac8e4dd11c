"""The OpenAPI schema of POST /feedback says exactly what the handler takes.

Bodies near the schema's edges (and anywhere else) are accepted by ``api.feedback.parse``
exactly when an independent JSON Schema validator (jsonschema-rs) says the schema holds them.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from api.errors import InvalidInputError
from api.feedback import FEEDBACK_BODY, MAX_FEEDBACK, parse

SCHEMA = FEEDBACK_BODY["requestBody"]["content"]["application/json"]["schema"]
VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)

texts = st.one_of(
    st.sampled_from(["a", "019a9c5e-2f1b-7c3e", "x" * 64, "x" * 65, "a b", "setosa"]),
    st.text(max_size=3),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), min_size=1, max_size=70),
    st.text(min_size=120, max_size=140),
)
numbers = st.one_of(
    st.integers(min_value=-(2**33), max_value=2**33),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 2**31 - 1, 2**31, -1, 1.0, 2.5]),
)
anything = st.one_of(st.none(), st.booleans(), numbers, texts)
items = st.dictionaries(
    st.sampled_from(["job_id", "row", "label", "value", "extra"]), anything, max_size=5
)
near = st.fixed_dictionaries(
    {"job_id": st.sampled_from(["a", "019a9c5e-2f1b-7c3e", "x" * 64, "x" * 65, "a b", ""])},
    optional={
        "row": st.one_of(st.sampled_from([0, 1, 3.0, 2**31 - 1]), numbers),
        "label": st.one_of(
            st.sampled_from(["setosa", "x" * 128, "x" * 129, "", "a\x00"]), anything
        ),
        "value": st.one_of(st.sampled_from([3.2, 0, -1e300]), anything),
    },
)
"""Items with a job_id, some well formed: the cases at the schema's edges."""
job_ids = st.sampled_from(["a", "019a9c5e-2f1b-7c3e", "x" * 64, "x" * 65, "a b"])
rows = st.one_of(st.sampled_from([0, 1, 3.0, 2**31 - 1, 2**31, -1, 0.5, True]), numbers)
truthful = st.one_of(
    st.fixed_dictionaries(
        {"job_id": job_ids, "label": st.one_of(st.text(min_size=1, max_size=130), texts)},
        optional={"row": rows},
    ),
    st.fixed_dictionaries({"job_id": job_ids, "value": numbers}, optional={"row": rows}),
)
"""One truth each, the other fields at their edges: mostly taken."""
bodies = st.one_of(
    truthful,
    st.lists(truthful, min_size=1, max_size=3),
    near,
    st.lists(near, min_size=1, max_size=3),
    items,
    st.lists(items, max_size=4),
    st.lists(
        st.just({"job_id": "a", "label": "x"}), min_size=MAX_FEEDBACK, max_size=MAX_FEEDBACK + 1
    ),
    anything,
)


def accepted(body: Any) -> bool:
    try:
        parse(body)
    except InvalidInputError:
        return False
    return True


@settings(max_examples=600, deadline=None)
@given(bodies)
def test_the_handler_takes_exactly_what_the_schema_says(body: Any) -> None:
    assert accepted(body) == VALIDATOR.is_valid(body), body


def test_examples_in_the_schema_are_taken() -> None:
    for example in FEEDBACK_BODY["requestBody"]["content"]["application/json"]["examples"].values():
        assert VALIDATOR.is_valid(example["value"])
        assert accepted(example["value"])
