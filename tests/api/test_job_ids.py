"""job_id: a UUIDv7 in the body and in X-Job-Id on every response, unique and time-ordered."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from api.job_ids import new_job_id
from tests.api.fixtures import AppClient

ROW = {"data": [[6.7, 3.0, 5.2, 2.3]]}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/health", {}, 200),
        ("GET", "/metadata", {}, 200),
        ("GET", "/label", {}, 200),
        ("GET", "/metrics", {}, 200),
        ("GET", "/predict/test", {}, 200),
        ("POST", "/predict", {"json": ROW}, 200),
        ("POST", "/predict/label", {"json": ROW}, 200),
        ("POST", "/predict/batch", {"json": ROW}, 200),
        ("POST", "/predict", {"content": b"{"}, 415),
        ("POST", "/predict", {"json": {"data": [[1]]}}, 422),
        ("GET", "/no/such/route", {}, 404),
        ("GET", "/predict", {}, 405),
        ("GET", "/label?model=nope", {}, 404),
    ],
)
def test_every_response_has_an_x_job_id(
    client: AppClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    job_id = uuid.UUID(response.headers["x-job-id"])
    assert job_id.version == 7
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}


def test_job_id_in_the_body_matches_the_header(client: AppClient) -> None:
    response = client.post("/predict", json=ROW)
    assert response.json()["job_id"] == response.headers["x-job-id"]


def test_job_ids_are_unique_and_sort_by_time(client: AppClient) -> None:
    ids = [client.post("/predict", json=ROW).headers["x-job-id"] for _ in range(200)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_job_id_carries_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    job_id = uuid.UUID(new_job_id())
    after = time.time_ns() // 1_000_000
    assert (job_id.version, job_id.variant) == (7, uuid.RFC_4122)
    assert before <= job_id.int >> 80 <= after


def test_new_job_ids_are_unique_in_bulk() -> None:
    ids = [new_job_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_job_id()  # the parent holds unused random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send one id and leave at once
        os.write(write, new_job_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child[-17:] != new_job_id()[-17:]  # the random parts differ
