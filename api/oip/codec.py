"""Open Inference Protocol tensors to model rows and model outputs to tensors, in JSON or in
the binary tensor extension (raw little-endian bytes after the JSON header, whose length the
``Inference-Header-Content-Length`` header gives).

Every rejection says what was wrong and where (``inputs[0].shape [1, 3]: the model expects
4 features``); values are held to what ``/predict`` accepts (finite, in float32's range).

The binary path does per call only what depends on the call: ``RequestReader`` remembers a
JSON header checked before (clients repeat it, only the tensor bytes change), and
``write_response`` puts the answer's JSON together from pieces fixed per model version.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

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


def read_request(
    payload: dict[str, Any], tail: bytes, manifest: BundleManifest, max_rows: int
) -> InferRequest:
    """Check an infer request (``read_header``'s) against ``manifest``'s one input tensor."""
    return _read(payload, tail, manifest, max_rows)[0]


def _read(
    payload: dict[str, Any], tail: bytes, manifest: BundleManifest, max_rows: int
) -> tuple[InferRequest, _Layout | None]:
    """``read_request``, and the layout of its binary input (None: its values were JSON)."""
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
        rows = _binary_rows(layout, tail)
    request = InferRequest(request_id(payload), rows, _outputs(payload, manifest), binary)
    return request, layout


MAX_KNOWN = 256
"""Most JSON headers ``RequestReader`` remembers (and model versions per header)."""
MAX_KNOWN_HEADER = 2048
"""Longest JSON header (bytes) ``RequestReader`` remembers."""


@dataclass(slots=True)
class Header:
    """An infer request's JSON object and the binary data after it, as ``RequestReader``
    read them (``known``: the same header was checked before)."""

    payload: dict[str, Any]
    tail: bytes
    raw: bytes | None
    """The JSON header's bytes, when short enough to be remembered."""
    known: _Known | None


@dataclass(slots=True)
class _Known:
    """A JSON header checked before: its object, its id, and per model version (by the
    manifest's id) the request it makes without the binary data, and that data's layout."""

    payload: dict[str, Any]
    id: str | None
    checked: dict[int, tuple[BundleManifest, InferRequest, _Layout]]


class RequestReader:
    """``read_header`` and ``read_request`` for a handler, remembering the binary tensor
    extension's JSON headers.

    A client sends the same header on every call of a shape (tritonclient and KServe's
    client do; only the bytes after it change), so a header whose input is binary is parsed
    once and checked once per model version: a call with it then reads its binary data
    only, with the same checks and the same errors as a header seen for the first time.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._known: dict[bytes, _Known] = {}

    def header(self, body: bytes, header_length: int | None) -> Header:
        """``read_header``: the request's JSON object and the binary data after it."""
        if header_length is not None and 0 < header_length <= min(len(body), MAX_KNOWN_HEADER):
            raw = body[:header_length]
            known = self._known.get(raw)
            if known is not None:
                return Header(known.payload, body[header_length:], raw, known)
            payload, tail = read_header(body, header_length)
            return Header(payload, tail, raw, None)
        payload, tail = read_header(body, header_length)
        return Header(payload, tail, None, None)

    @staticmethod
    def request_id(header: Header) -> str | None:
        """``request_id`` of the header's object."""
        known = header.known
        return request_id(header.payload) if known is None else known.id

    def request(self, header: Header, manifest: BundleManifest) -> InferRequest:
        """``read_request`` of the header against ``manifest``."""
        known = header.known
        if known is not None:
            checked = known.checked.get(id(manifest))
            if checked is not None and checked[0] is manifest:  # held: its id is its own
                _, seen, known_layout = checked
                rows = _binary_rows(known_layout, header.tail)
                return InferRequest(seen.id, rows, seen.outputs, seen.binary)
        request, layout = _read(header.payload, header.tail, manifest, self.max_rows)
        if layout is not None and header.raw is not None:
            if known is None:
                if len(self._known) >= MAX_KNOWN:  # bounded: forget them all, relearn
                    self._known.clear()
                known = self._known.setdefault(header.raw, _Known(header.payload, request.id, {}))
            if len(known.checked) >= MAX_KNOWN:
                known.checked.clear()
            seen = InferRequest(request.id, [], request.outputs, request.binary)
            known.checked[id(manifest)] = (manifest, seen, layout)
        return request


def _parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    params = obj.get("parameters")
    if params is None:
        return {}
    if type(params) is not dict:
        raise InvalidInputError(f"{where} must be an object")
    return params


@dataclass(frozen=True, slots=True)
class _Layout:
    """A binary input's place in the body: its rows, their width, its bytes, its struct."""

    n: int
    width: int
    size: int
    unpack: struct.Struct


def _input(tensor: Any, manifest: BundleManifest, max_rows: int) -> tuple[int, int, _Layout | None]:
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
    return n, width, _Layout(n, width, size, _struct(code, n * width))


def _binary_rows(layout: _Layout, tail: bytes) -> list[list[float]]:
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


def write_response(
    request: InferRequest, manifest: BundleManifest, results: list[dict[str, Any]], job_id: str
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it.

    The tensors come from ``results``, the record's rows (Python lists already): for the
    few rows of a request, struct is cheaper than a numpy call per output. The JSON header
    is what orjson gives for ``{"model_name", "model_version", "id", "parameters":
    {"job_id"}, "outputs": [{"name", "datatype", "shape", "parameters" | "data"}]}``, put
    together from pieces fixed per model version and selection of outputs (``_plan``)."""
    plan = _plan(manifest, request.outputs, request.binary)
    n = len(results)
    if plan.all_binary:  # the outputs' JSON then depends on their sizes only
        chunks = [_packed(kind, results, n, plan.labels) for kind, _, _ in plan.outputs]
        key = (n, *map(len, chunks))
        described = plan.described.get(key)
        if described is None:
            described = _describe(plan, n, chunks)
            if len(plan.described) >= MAX_KNOWN:
                plan.described.clear()
            plan.described[key] = described
    else:
        chunks = []
        pieces: list[bytes] = []
        for kind, binary, opening in plan.outputs:
            if binary:
                raw = _packed(kind, results, n, plan.labels)
                chunks.append(raw)
                pieces.append(_binary_output(opening, _shape_of(kind, n, len(raw)), len(raw)))
                continue
            data: list[Any]
            if kind == _VALUES:
                data = [p for r in results for p in r["prediction"]]
                shape = b"%d,%d" % (n, len(data) // n)
            else:
                data = [r[_FIELDS[kind]] for r in results]
                shape = b"%d" % n
            pieces.append(b'%s%s],"data":%s}' % (opening, shape, orjson.dumps(data)))
        described = b",".join(pieces) + b"]}"
    header = b'%s%s,"parameters":{"job_id":%s},"outputs":[%s' % (
        plan.opening,
        orjson.dumps(job_id if request.id is None else request.id),
        orjson.dumps(job_id),
        described,
    )
    if not chunks:
        return header, None
    chunks.insert(0, header)
    return b"".join(chunks), len(header)


def _packed(kind: int, results: list[dict[str, Any]], n: int, labels: dict[str, bytes]) -> bytes:
    """An output's binary data: little-endian, row-major; BOOL one byte each; BYTES elements
    length-prefixed (uint32)."""
    if kind == _VALUES:
        values = (
            results[0]["prediction"] if n == 1 else [p for r in results for p in r["prediction"]]
        )
        return _struct("f", len(values)).pack(*values)
    if kind == _LABEL:
        if n == 1:
            label: str = results[0]["label"]
            return labels.get(label) or _element(label)
        return b"".join([labels.get(s) or _element(s) for s in [r["label"] for r in results]])
    if kind == _SCORE:
        return _struct("d", n).pack(*[r["outlier_score"] for r in results])
    return bytes([r["is_outlier"] for r in results])  # True -> 1, False -> 0


def _shape_of(kind: int, n: int, size: int) -> bytes:
    """A binary output's shape (inside its brackets), from its rows and its bytes."""
    return b"%d,%d" % (n, size // 4 // n) if kind == _VALUES else b"%d" % n


def _binary_output(opening: bytes, shape: bytes, size: int) -> bytes:
    return b'%s%s],"parameters":{"binary_data_size":%d}}' % (opening, shape, size)


def _describe(plan: _Plan, n: int, chunks: list[bytes]) -> bytes:
    """The outputs' JSON after ``"outputs":[`` when they are all binary, to the header's end."""
    pieces = [
        _binary_output(opening, _shape_of(kind, n, len(raw)), len(raw))
        for (kind, _, opening), raw in zip(plan.outputs, chunks, strict=True)
    ]
    return b",".join(pieces) + b"]}"


_VALUES, _LABEL, _SCORE, _FLAG = range(4)
_KINDS = {PROBABILITIES: _VALUES, PREDICTION: _VALUES, LABEL: _LABEL, OUTLIER_SCORE: _SCORE,
          IS_OUTLIER: _FLAG}  # fmt: skip
_DATATYPES = {_VALUES: "FP32", _LABEL: "BYTES", _SCORE: "FP64", _FLAG: "BOOL"}
_FIELDS = {_LABEL: "label", _SCORE: "outlier_score", _FLAG: "is_outlier"}
"""The record's field of each output other than the values."""
_MAX_PLANS = 256


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a response's JSON header and binary data take from the model version and the
    outputs asked for: fixed pieces, computed once."""

    manifest: BundleManifest
    """Held so that the cache's key (its id) stays this manifest's."""
    opening: bytes
    """``{"model_name":...,"model_version":...,"id":`` as orjson writes it."""
    outputs: list[tuple[int, bool, bytes]]
    """Per output answered, in order: its kind, binary or not, and the opening of its
    object up to its shape's first value (``{"name":...,"datatype":...,"shape":[``)."""
    labels: dict[str, bytes]
    """Each label of the model as a BYTES element (uint32 length, then UTF-8)."""
    all_binary: bool
    """Whether every output answered is binary."""
    described: dict[tuple[int, ...], bytes]
    """When ``all_binary``: (rows, each output's bytes) -> the outputs' JSON (``_describe``)."""


_PLANS: dict[tuple[int, tuple[tuple[str, bool | None], ...] | None, bool], _Plan] = {}


def _plan(manifest: BundleManifest, wanted: dict[str, bool | None] | None, binary: bool) -> _Plan:
    key = (id(manifest), None if wanted is None else tuple(wanted.items()), binary)
    plan = _PLANS.get(key)
    if plan is not None and plan.manifest is manifest:
        return plan
    names = output_names(manifest) if wanted is None else list(wanted)
    outputs = []
    for name in names:
        own = None if wanted is None else wanted[name]
        kind = _KINDS[name]
        opening = orjson.dumps({"name": name, "datatype": _DATATYPES[kind]})[:-1] + b',"shape":['
        outputs.append((kind, binary if own is None else own, opening))
    head = orjson.dumps({"model_name": manifest.name, "model_version": manifest.version})
    labels = {s: _element(s) for s in manifest.labels}
    all_binary = all(binary for _, binary, _ in outputs)
    plan = _Plan(manifest, head[:-1] + b',"id":', outputs, labels, all_binary, {})
    if len(_PLANS) >= _MAX_PLANS:  # versions come and go: keep the cache bounded
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _element(label: str) -> bytes:
    """A BYTES tensor's element: its length (little-endian uint32), then its UTF-8 bytes."""
    encoded = label.encode()
    return struct.pack("<I", len(encoded)) + encoded


@lru_cache(maxsize=256)
def _struct(code: str, count: int) -> struct.Struct:
    """A little-endian struct of ``count`` values of ``code`` (f, d), made once."""
    return struct.Struct(f"<{count}{code}")
