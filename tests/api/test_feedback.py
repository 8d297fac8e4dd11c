"""POST /feedback: checked, answered 202, and sent on as records of the feedback tag."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from api.emitter import RecordEmitter
from api.errors import InvalidInputError
from api.feedback import MAX_FEEDBACK, FeedbackHandler
from api.records import RequestLog
from api.spool import SpoolWriter
from sidecar.record import FEEDBACK_TAG, TAG, FeedbackRecord, validate_feedback
from tests.api.fixtures import AppClient, ForwardReceiver, read_spool
from tests.support import free_port, wait_for

JOB = "019a9c5e-2f1b-7c3e-9a51-3b1f0c2d4e5f"


def submit(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []
    log = RequestLog("019a9c5e-0000-7000-8000-000000000001", "POST", "/feedback")
    return FeedbackHandler(sent.append).submit(log, body), sent


def test_the_handler_emits_one_valid_record_per_item() -> None:
    body = b'[{"job_id": "a-1", "label": "setosa"}, {"job_id": "a-2", "row": 2, "value": 3}]'
    answer, sent = submit(body)
    assert answer == {"job_id": "019a9c5e-0000-7000-8000-000000000001", "accepted": 2}
    records = [validate_feedback(record) for record in sent]
    assert [(r.job_id, r.row, r.label, r.value) for r in records] == [
        ("a-1", 0, "setosa", None),
        ("a-2", 2, None, 3.0),
    ]
    assert {r.feedback_job_id for r in records} == {answer["job_id"]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"job_id": "a"}', "body: give exactly one of label"),
        (b'{"job_id": "a", "label": "x", "value": 1.0}', "body: give exactly one of label"),
        (b'{"label": "x"}', "body.job_id: Field required"),
        (b'{"job_id": "", "label": "x"}', "body.job_id: String should have at least 1"),
        (b'{"job_id": "a b", "label": "x"}', "body.job_id: String should match pattern"),
        (b'{"job_id": "a", "label": 3}', "body.label: Input should be a valid string"),
        (b'{"job_id": "a", "value": "3.2"}', "body.value: Input should be a valid number"),
        (b'{"job_id": "a", "label": "x", "row": -1}', "body.row: Input should be greater"),
        (b'{"job_id": "a", "label": "x", "colour": 1}', "body.colour: Extra inputs are not"),
        (b'[{"job_id": "a", "label": "x"}, {"job_id": 7, "label": "x"}]', "body[1].job_id:"),
        (b"[]", "body: the list of feedback is empty"),
        (b'"a"', "body: expected a feedback object or a list of them"),
    ],
)
def test_malformed_feedback_is_refused_saying_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        submit(body)
    assert raised.value.message.startswith(says), raised.value.message


def test_a_batch_over_the_limit_is_refused() -> None:
    items = b",".join([b'{"job_id": "a", "label": "x"}'] * (MAX_FEEDBACK + 1))
    with pytest.raises(InvalidInputError, match=f"at most {MAX_FEEDBACK} per request"):
        submit(b"[" + items + b"]")


def test_feedback_through_the_app_reaches_the_receiver_with_its_tag(
    client: AppClient, receiver: ForwardReceiver
) -> None:
    response = client.post("/feedback", json={"job_id": JOB, "label": "virginica"})
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 1
    assert response.headers["x-job-id"] == answer["job_id"]
    wait_for(lambda: len(receiver.entries) == 2)  # the feedback, and the request's own record
    tags = {entry[0]: entry[2] for entry in receiver.entries}
    assert set(tags) == {TAG, FEEDBACK_TAG}
    record = validate_feedback(tags[FEEDBACK_TAG])
    assert record == FeedbackRecord(
        job_id=JOB,
        label="virginica",
        event_time=record.event_time,
        feedback_job_id=answer["job_id"],
    )
    assert tags[TAG]["endpoint"] == "/feedback"
    assert tags[TAG]["status"] == 202


def test_malformed_feedback_through_the_app_is_a_4xx_with_a_message(
    client: AppClient, receiver: ForwardReceiver
) -> None:
    response = client.post("/feedback", json=[{"job_id": JOB}])
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("body[0]: give exactly one of")
    assert client.post("/feedback", content=b"{not json").status_code in (400, 415)
    bad_json = client.post(
        "/feedback", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    wait_for(lambda: len(receiver.entries) == 3)  # the requests' own records, no feedback
    assert {entry[0] for entry in receiver.entries} == {TAG}


def test_the_openapi_schema_states_the_body_and_its_limit(client: AppClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/feedback"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    item, batch = schema["oneOf"]
    assert batch["maxItems"] == MAX_FEEDBACK
    assert batch["items"] == item
    assert item["required"] == ["job_id"]
    assert item["additionalProperties"] is False
    assert item["properties"]["job_id"]["maxLength"] == 64
    assert set(operation["responses"]) == {"202", "400", "413", "415", "422"}


def test_feedback_the_receiver_cannot_take_now_is_spooled_with_its_tag(tmp_path: Path) -> None:
    emitter = RecordEmitter(("127.0.0.1", free_port()), SpoolWriter(tmp_path), retry_interval=5.0)
    emitter.start()
    feedback = {"job_id": JOB, "label": "setosa", "event_time": time.time()}
    emitter.emit_tagged("feedback", feedback)
    emitter.emit({"job_id": "p-1", "seq": 1, "event_time": time.time()})
    wait_for(lambda: emitter.counts["spooled"] == 2)
    emitter.close()
    assert sorted((entry[0], entry[2]["job_id"]) for entry in read_spool(tmp_path)) == [
        (FEEDBACK_TAG, JOB),
        (TAG, "p-1"),
    ]


def test_a_closed_emitter_spools_tagged_records_still_queued(tmp_path: Path) -> None:
    with ForwardReceiver() as receiver:
        emitter = RecordEmitter(("127.0.0.1", receiver.port), SpoolWriter(tmp_path))
        emitter.emit_tagged("feedback", {"job_id": JOB, "value": 1.0, "event_time": 1.0})
        assert emitter.pending == 1
        emitter.close()  # never started: what is queued is spooled
    assert [entry[0] for entry in read_spool(tmp_path)] == [FEEDBACK_TAG]
