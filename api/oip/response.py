"""Model outputs to Open Inference Protocol tensors: the infer answer in JSON, or in the
binary tensor extension (the JSON header, then each binary output's raw little-endian
bytes). ``write_response`` puts the JSON together from pieces fixed per model version and
selection of outputs, so that a call does only what depends on its rows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from api.oip.request import InferRequest, little_endian, output_names
from api.oip.schemas import IS_OUTLIER, LABEL, OUTLIER_SCORE, PREDICTION, PROBABILITIES
from api.runtime.bundle import BundleManifest


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
            if len(plan.described) >= _MAX_PLANS:
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
        return little_endian("f", len(values)).pack(*values)
    if kind == _LABEL:
        if n == 1:
            label: str = results[0]["label"]
            return labels.get(label) or _element(label)
        return b"".join([labels.get(s) or _element(s) for s in [r["label"] for r in results]])
    if kind == _SCORE:
        return little_endian("d", n).pack(*[r["outlier_score"] for r in results])
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
