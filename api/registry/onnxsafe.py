"""An uploaded ONNX graph must not reach outside the bundle: no custom-op domains (which would
need a library of native code), no external-data paths outside the bundle's own files.

Read from the protobuf wire format directly (the api's image has onnxruntime, not onnx):
``ModelProto`` opset imports and functions, every graph's nodes (subgraphs of ``If`` and
``Loop`` too), and every tensor's ``data_location`` and ``external_data``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from api.errors import InvalidInputError

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
"""The operator sets onnxruntime implements itself."""
EXTERNAL = 1
"""``TensorProto.DataLocation.EXTERNAL``."""
MAX_DEPTH = 32

# field numbers (onnx.proto3)
MODEL_GRAPH, MODEL_OPSET, MODEL_FUNCTIONS = 7, 8, 25
OPSET_DOMAIN = 1
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE = 1, 5, 15
NODE_ATTRIBUTE, NODE_DOMAIN = 5, 7
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE, ATTR_SPARSES = 5, 6, 10, 11, 22, 23
TENSOR_EXTERNAL, TENSOR_LOCATION = 13, 14
SPARSE_VALUES, SPARSE_INDICES = 1, 2
FUNCTION_NODE, FUNCTION_OPSET, FUNCTION_DOMAIN = 7, 9, 10
ENTRY_KEY, ENTRY_VALUE = 1, 2


class _Malformed(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one message: an int for varints, bytes for the rest."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, data[pos : pos + size]
            pos += size
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Malformed("truncated field")
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise _Malformed(f"wire type {wire}")


def _text(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _messages(data: bytes, number: int) -> Iterator[bytes]:
    for n, value in fields(data):
        if n == number and isinstance(value, bytes):
            yield value


class _Checker:
    def __init__(self, name: str, files: set[str]) -> None:
        self.name = name
        self.files = files

    def refuse(self, why: str) -> InvalidInputError:
        return InvalidInputError(f"{self.name}: {why}")

    def domain(self, domain: str) -> None:
        if domain not in ALLOWED_DOMAINS:
            raise self.refuse(
                f"uses the custom operator domain {domain[:100]!r} (a bundle is data, never "
                f"code: only {', '.join(repr(d) for d in sorted(ALLOWED_DOMAINS))})"
            )

    def model(self, data: bytes) -> None:
        for number, value in fields(data):
            if not isinstance(value, bytes):
                continue
            if number == MODEL_OPSET:
                for n, v in fields(value):
                    if n == OPSET_DOMAIN:
                        self.domain(_text(v))
            elif number == MODEL_GRAPH:
                self.graph(value, 0)
            elif number == MODEL_FUNCTIONS:
                self.function(value)

    def function(self, data: bytes) -> None:
        for number, value in fields(data):
            if number == FUNCTION_NODE and isinstance(value, bytes):
                self.node(value, 0)
            elif number == FUNCTION_OPSET and isinstance(value, bytes):
                for n, v in fields(value):
                    if n == OPSET_DOMAIN:
                        self.domain(_text(v))

    def graph(self, data: bytes, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.refuse("nests subgraphs too deep")
        for number, value in fields(data):
            if not isinstance(value, bytes):
                continue
            if number == GRAPH_NODE:
                self.node(value, depth)
            elif number == GRAPH_INITIALIZER:
                self.tensor(value)
            elif number == GRAPH_SPARSE:
                self.sparse(value)

    def node(self, data: bytes, depth: int) -> None:
        for number, value in fields(data):
            if number == NODE_DOMAIN:
                self.domain(_text(value))
            elif number == NODE_ATTRIBUTE and isinstance(value, bytes):
                for n, v in fields(value):
                    if not isinstance(v, bytes):
                        continue
                    if n in (ATTR_G, ATTR_GRAPHS):
                        self.graph(v, depth + 1)
                    elif n in (ATTR_T, ATTR_TENSORS):
                        self.tensor(v)
                    elif n in (ATTR_SPARSE, ATTR_SPARSES):
                        self.sparse(v)

    def sparse(self, data: bytes) -> None:
        for number, value in fields(data):
            if number in (SPARSE_VALUES, SPARSE_INDICES) and isinstance(value, bytes):
                self.tensor(value)

    def tensor(self, data: bytes) -> None:
        external = False
        locations: list[str] = []
        for number, value in fields(data):
            if number == TENSOR_LOCATION and value == EXTERNAL:
                external = True
            elif number == TENSOR_EXTERNAL and isinstance(value, bytes):
                entry = dict(fields(value))
                if _text(entry.get(ENTRY_KEY, b"")) == "location":
                    locations.append(_text(entry.get(ENTRY_VALUE, b"")))
        if not external:
            return
        for location in locations or [""]:
            path = PurePosixPath(location.replace("\\", "/"))
            inside = location and not path.is_absolute() and ".." not in path.parts
            if not inside or str(PurePosixPath(self.name).parent / path) not in self.files:
                raise self.refuse(
                    f"keeps tensor data in {location[:200]!r}, which is not a file of the "
                    "bundle (external data must be a listed file inside it)"
                )


def check_graph(path: Path, name: str, files: set[str]) -> None:
    """InvalidInputError if the ONNX file at ``path`` (``name`` in the bundle) uses a custom
    operator domain or external data outside ``files`` (the bundle's listed files). A file
    that is not protobuf at all is left to onnxruntime, which refuses to load it."""
    with contextlib.suppress(_Malformed):
        _Checker(name, files).model(path.read_bytes())
