"""Request bodies to model input: fast (orjson, no generic validation), strict, and explicit.

Every rejection says what was wrong and where (``data[2][1] must be a number, got a string``).
Non-finite numbers never reach a model: orjson refuses NaN, Infinity and 1e400 outright, and
values beyond float32's range are refused here.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from api.errors import (
    InvalidInputError,
    MalformedRequestError,
    PayloadTooLargeError,
    ServiceError,
    UnsupportedMediaTypeError,
)


class ClientGoneError(ServiceError):
    """The client went away before its request was read (nginx's 499); nobody sees the answer."""

    status_code = 499


FLOAT32_MAX = float(np.finfo(np.float32).max)
_TYPE_NAMES = {str: "a string", bool: "a boolean", type(None): "null", dict: "an object"}


def check_content(content_type: str | None, content_length: int | None, limit: int) -> None:
    """Refuse a body that is not JSON (415) or announces more than ``limit`` bytes (413)."""
    if content_type is None:
        raise UnsupportedMediaTypeError("Content-Type must be application/json (none was sent)")
    media = content_type.partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaTypeError(f"Content-Type must be application/json, not {media!r}")
    if content_length is not None and content_length > limit:
        raise PayloadTooLargeError(f"body of {content_length} bytes exceeds the {limit}-byte limit")


def too_large(size: int, limit: int) -> PayloadTooLargeError:
    """The error for a body that grew past ``limit`` while being read."""
    return PayloadTooLargeError(
        f"body of more than {size - 1} bytes exceeds the {limit}-byte limit"
    )


def decode(body: bytes) -> Any:
    """Parse JSON; malformed JSON is 400, JSON that is valid only with NaN/Infinity is 422."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not body.strip():
            raise MalformedRequestError("the body is empty; expected JSON") from None
        if _lenient_parse_ok(body):
            raise InvalidInputError(
                "data must contain finite numbers only: NaN, Infinity and numbers out of "
                f"range such as 1e400 are rejected ({exc})"
            ) from None
        raise MalformedRequestError(f"malformed JSON: {exc}") from None


def _lenient_parse_ok(body: bytes) -> bool:
    # Python's json accepts NaN, Infinity and 1e400 (as inf): if it parses what orjson refused,
    # the JSON itself is fine and the problem is a non-finite number.
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def rows_of(payload: Any, n_features: int, max_rows: int, endpoint: str) -> list[list[float]]:
    """Check ``{"data": [[...], ...]}`` row by row; the rows as parsed (ints kept as ints)."""
    if type(payload) is not dict or "data" not in payload:
        raise InvalidInputError('the body must be a JSON object with a "data" field')
    data = payload["data"]
    if type(data) is not list:
        raise InvalidInputError(f'"data" must be a list of rows, got {_name(data)}')
    if not data:
        raise InvalidInputError('"data" has no rows')
    if len(data) > max_rows:
        raise InvalidInputError(
            f'"data" has {len(data)} rows; {endpoint} accepts at most {max_rows} per request'
        )
    for i, row in enumerate(data):
        if type(row) is not list:
            raise InvalidInputError(
                f"data[{i}] must be a list of {n_features} numbers, got {_name(row)}"
            )
        if len(row) != n_features:
            raise InvalidInputError(
                f"data[{i}] has {len(row)} values; the model expects {n_features} features"
            )
        for value in row:
            kind = type(value)
            # one pass, no per-value call: type first (bool is an int subclass), then range
            if (kind is not float and kind is not int) or not -FLOAT32_MAX <= value <= FLOAT32_MAX:
                raise _bad_value(i, row)
    return data


def _bad_value(i: int, row: list[Any]) -> InvalidInputError:
    for j, value in enumerate(row):
        kind = type(value)
        if kind is not float and kind is not int:
            return InvalidInputError(f"data[{i}][{j}] must be a number, got {_name(value)}")
        if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:20]}..."
            return InvalidInputError(f"data[{i}][{j}] = {shown} is outside the float32 range")
    raise AssertionError("unreachable: the row has no bad value")


def to_array(rows: list[list[float]]) -> np.ndarray:
    """Rows checked by ``rows_of`` as a float32 (n, features) array."""
    return np.array(rows, dtype=np.float32)


def _name(value: Any) -> str:
    kind = type(value)
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind]
    if kind is list:
        return "a list"
    if kind is float or kind is int:
        return f"the number {value!r}"
    return kind.__name__
