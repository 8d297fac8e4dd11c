"""``RequestReader``: infer requests read as ``api.oip.request`` reads them, remembering the
binary tensor extension's JSON headers (clients repeat them, only the tensor bytes change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.oip.request import (
    InferRequest,
    Layout,
    binary_rows,
    read_checked,
    read_header,
    request_id,
)
from api.runtime.bundle import BundleManifest

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
    checked: dict[int, tuple[BundleManifest, InferRequest, Layout]]


class RequestReader:
    """``read_header`` and ``read_checked`` for a handler, remembering the binary tensor
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
        """``read_checked``'s request for the header against ``manifest``."""
        known = header.known
        if known is not None:
            checked = known.checked.get(id(manifest))
            if checked is not None and checked[0] is manifest:  # held: its id is its own
                _, seen, known_layout = checked
                rows = binary_rows(known_layout, header.tail)
                return InferRequest(seen.id, rows, seen.outputs, seen.binary)
        request, layout = read_checked(header.payload, header.tail, manifest, self.max_rows)
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
