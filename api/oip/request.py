"""Open Inference Protocol infer requests to model rows: tensors in JSON or in the binary
tensor extension (raw little-endian bytes after the JSON header, whose length the
``Inference-Header-Content-Length`` header gives). ``api.oip.response`` writes the answers.

Every rejection says what was wrong and where (``inputs[0].shape [1, 3]: the model expects
4 features``); values are held to what ``/predict`` accepts (finite, in float32's range).

The binary path does per call only what depends on the call: ``RequestReader`` remembers a
JSON header checked before (clients repeat it, only the tensor bytes change): that is
``api.oip.reader``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from api.errors import InvalidInputError, MalformedRequestError
from api.inputs import FLOAT32_MAX, decode
from api.oip.schemas import (
    IS_OUTLIER,
    LABEL,
    MAX_TENSORS,
    OUTLIER_SCORE,
    PREDICTION,
    PROBABILITIES,
)
from api.runtime.bundle import BundleManifest

_FORMATS = {"FP32": ("f", 4), "FP64": ("d", 8)}
"""Input datatype -> struct format and size: little-endian, as the extension says."""


@dataclass(slots=True)
class InferRequest:
    """What an infer request asks: rows for the model, and which outputs in which form."""

    id: str | None
    rows: list[list[float]]
    outputs: dict[str, bool | None] | None
    """Output name -> answered as binary (None: as ``binary`` says); None: every output."""
    binary: bool
    """``binary_data_output``: outputs not named in ``outputs`` answer as binary."""


def output_names(manifest: BundleManifest) -> list[str]:
    """The outputs of a model, in the order they are answered."""
    outlier = [OUTLIER_SCORE, IS_OUTLIER] if manifest.detector is not None else []
    if manifest.is_regressor:
        return [PREDICTION, *outlier]
    return [PROBABILITIES, LABEL, *outlier]


def read_header(body: bytes, header_length: int | None) -> tuple[dict[str, Any], bytes]:
    """The request's JSON object, and the binary data after it (binary tensor extension)."""
    if header_length is None:
        header, tail = body, b""
    elif 0 < header_length <= len(body):
        header, tail = body[:header_length], body[header_length:]
    else:
        raise MalformedRequestError(
            f"Inference-Header-Content-Length {header_length} is not within the body's "
            f"{len(body)} bytes"
        )
    payload = decode(header)
    if type(payload) is not dict:
        raise InvalidInputError("the infer request must be a JSON object")
    return payload, tail


def request_id(payload: dict[str, Any]) -> str | None:
    """The request's ``id``: the caller's request id."""
    found = payload.get("id")
    if found is not None and (type(found) is not str or len(found) > 256):
        raise InvalidInputError('"id" must be a string of at most 256 characters')
    return found


def read_checked(
    payload: dict[str, Any], tail: bytes, manifest: BundleManifest, max_rows: int
) -> tuple[InferRequest, Layout | None]:
    """Check an infer request (``read_header``'s) against ``manifest``'s one input tensor:
    the request, and the layout of its binary input (None: its values were JSON)."""
    params = _parameters(payload, "parameters")
    binary = params.get("binary_data_output", False)
    if type(binary) is not bool:
        raise InvalidInputError("parameters.binary_data_output must be a boolean")
    inputs = payload.get("inputs")
    if type(inputs) is not list or len(inputs) != 1:
        raise InvalidInputError(
            f'"inputs" must be a list of one tensor, {manifest.input_name!r} '
            f"[rows, {manifest.n_features}]"
        )
    tensor = inputs[0]
    n, width, layout = _input(tensor, manifest, max_rows)
    if layout is None:
        values = _json_values(tensor.get("data"), n * width)
        rows = [values[i : i + width] for i in range(0, n * width, width)]
        if tail:
            raise InvalidInputError(
                f"the body has {len(tail)} bytes after the tensors' binary data"
            )
    else:
        rows = binary_rows(layout, tail)
    request = InferRequest(request_id(payload), rows, _outputs(payload, manifest), binary)
    return request, layout


def _parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    params = obj.get("parameters")
    if params is None:
        return {}
    if type(params) is not dict:
        raise InvalidInputError(f"{where} must be an object")
    return params


@dataclass(frozen=True, slots=True)
class Layout:
    """A binary input's place in the body: its rows, their width, its bytes, its struct."""

    n: int
    width: int
    size: int
    unpack: struct.Struct


def _input(tensor: Any, manifest: BundleManifest, max_rows: int) -> tuple[int, int, Layout | None]:
    """The input's rows and width, and its binary layout (None: its values are JSON): every
    check of the tensor that does not need the binary data itself."""
    if type(tensor) is not dict:
        raise InvalidInputError("inputs[0] must be an object")
    if tensor.get("name") != manifest.input_name:
        raise InvalidInputError(
            f"inputs[0].name must be {manifest.input_name!r}, not {tensor.get('name')!r}"
        )
    datatype = tensor.get("datatype")
    wire = _FORMATS.get(datatype) if type(datatype) is str else None
    if wire is None:
        raise InvalidInputError(f"inputs[0].datatype must be FP32 or FP64, not {datatype!r}")
    n, width = _shape(tensor.get("shape"), manifest.n_features, max_rows)
    size = _parameters(tensor, "inputs[0].parameters").get("binary_data_size")
    if size is None:
        return n, width, None
    code, itemsize = wire
    if type(size) is not int or size != n * width * itemsize:
        raise InvalidInputError(
            f"inputs[0].parameters.binary_data_size must be {n * width * itemsize} "
            f"(shape [{n}, {width}] of {datatype}), not {size!r}"
        )
    return n, width, Layout(n, width, size, little_endian(code, n * width))


def binary_rows(layout: Layout, tail: bytes) -> list[list[float]]:
    """The rows in ``tail``, which must hold exactly the input's bytes."""
    size = layout.size
    if size > len(tail):
        raise InvalidInputError(
            f"inputs[0] announces {size} bytes of binary data, the body has {len(tail)}"
        )
    values = list(layout.unpack.unpack_from(tail))
    for value in values:
        if not -FLOAT32_MAX <= value <= FLOAT32_MAX:  # False for NaN as well
            raise InvalidInputError(
                "inputs[0] must hold finite numbers within the float32 range (NaN, Infinity "
                "and larger values are rejected)"
            )
    if size != len(tail):
        raise InvalidInputError(
            f"the body has {len(tail) - size} bytes after the tensors' binary data"
        )
    if layout.n == 1:
        return [values]
    width = layout.width
    return [values[i : i + width] for i in range(0, len(values), width)]


def _shape(shape: Any, n_features: int, max_rows: int) -> tuple[int, int]:
    if type(shape) is list and len(shape) == 2:
        n, width = shape
    elif type(shape) is list and len(shape) == 1:
        n, width = 1, shape[0]
    else:
        n = width = None
    if type(n) is not int or type(width) is not int or n < 1 or width < 1:
        raise InvalidInputError(
            f"inputs[0].shape must be [rows, {n_features}] (or [{n_features}] for one row), "
            f"not {shape!r}"[:300]
        )
    if width != n_features:
        raise InvalidInputError(f"inputs[0].shape {shape}: the model expects {n_features} features")
    if n > max_rows:
        raise InvalidInputError(f"inputs[0] has {n} rows; at most {max_rows} per request")
    return n, width


def _json_values(data: Any, count: int) -> list[float]:
    """The tensor's values, flat or nested one level (row-major), checked one by one."""
    if type(data) is not list:
        raise InvalidInputError(
            "inputs[0].data must be a list of numbers (or parameters.binary_data_size set)"
        )
    flat: list[Any] = data
    if data and type(data[0]) is list:  # nested: one list per row
        flat = []
        for row in data:
            if type(row) is not list:
                raise InvalidInputError("inputs[0].data must be all numbers or all lists")
            flat += row
    if len(flat) != count:
        raise InvalidInputError(f"inputs[0].data has {len(flat)} values; its shape says {count}")
    for value in flat:
        kind = type(value)
        # one pass, no per-value call: type first (bool is an int subclass), then range
        if (kind is not float and kind is not int) or not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            raise _bad_value(flat)
    return flat


def _bad_value(flat: list[Any]) -> InvalidInputError:
    for i, value in enumerate(flat):
        kind = type(value)
        if (kind is not float and kind is not int) or not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            return InvalidInputError(
                f"inputs[0].data value {i} must be a number within the float32 range, "
                f"got {value!r}"[:200]
            )
    raise AssertionError("unreachable: no bad value")


def _outputs(payload: dict[str, Any], manifest: BundleManifest) -> dict[str, bool | None] | None:
    wanted = payload.get("outputs")
    if wanted is None:
        return None
    names = output_names(manifest)
    if type(wanted) is not list or not 1 <= len(wanted) <= MAX_TENSORS:
        raise InvalidInputError(f'"outputs" must be a list of 1 to {MAX_TENSORS} objects')
    chosen: dict[str, bool | None] = {}
    for i, output in enumerate(wanted):
        name = output.get("name") if type(output) is dict else None
        if name not in names:
            raise InvalidInputError(
                f"outputs[{i}].name must be one of {', '.join(names)}, not {name!r}"
            )
        binary = _parameters(output, f"outputs[{i}].parameters").get("binary_data")
        if binary is not None and type(binary) is not bool:
            raise InvalidInputError(f"outputs[{i}].parameters.binary_data must be a boolean")
        chosen[name] = binary
    return chosen


@lru_cache(maxsize=256)
def little_endian(code: str, count: int) -> struct.Struct:
    """A little-endian struct of ``count`` values of ``code`` (f, d, ?), made once."""
    return struct.Struct(f"<{count}{code}")
