"""Infer requests for the tests of api.oip.request, reader and response: the fake model,
two rows, and bodies built from tensors."""

from __future__ import annotations

from typing import Any

import orjson

from api.oip.request import InferRequest, read_checked, read_header
from tests.api.fixtures import fake_manifest

MANIFEST = fake_manifest()
ROWS = [[6.7, 3.0, 5.2, 2.3], [5.1, 3.5, 1.4, 0.2]]


def parse(payload: bytes, header_length: int | None = None, max_rows: int = 8) -> InferRequest:
    return read_checked(*read_header(payload, header_length), MANIFEST, max_rows)[0]


def tensor(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "input", "shape": [2, 4], "datatype": "FP32"}
    return {**base, **fields}


def body(*inputs: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **fields})
