"""Ingest the files the api spools while the sidecar is unreachable (``<spool>/api/``).

Each file is a concatenation of msgpack Message-mode entries ``[tag, time, record]``.
Complete files are named ``*.msgpack``; a ``*.part`` file untouched for a while was left
by a crashed api and is ingested too, its truncated last entry dead-lettered with its
bytes. A file is deleted only once its entries are fsynced into the sidecar's spool.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from sidecar.ingest.protocol import new_unpacker
from sidecar.spool.format import batch_payload, dead_letter_message
from sidecar.spool.segments import SpoolSink

log = logging.getLogger("predlog.sidecar")

_READ = 1 << 16
_FRAME_ENTRIES = 1000


@dataclass
class IngestResult:
    """What one scan of the api spool did."""

    files: int = 0
    records: int = 0
    dead_letters: int = 0


def pending_files(api_dir: Path, stale_seconds: float, now: float | None = None) -> list[Path]:
    """The api's finished files, and its stale ``.part`` files, oldest name first."""
    if not api_dir.is_dir():
        return []
    now = time.time() if now is None else now
    files = []
    for path in api_dir.iterdir():
        if path.suffix == ".msgpack":
            files.append(path)
        elif path.suffix == ".part":
            try:
                if now - path.stat().st_mtime >= stale_seconds:
                    files.append(path)
            except FileNotFoundError:
                continue  # renamed by the api meanwhile; picked up as .msgpack next scan
    return sorted(files, key=lambda p: p.name)


def ingest_file(path: Path, spool: SpoolSink, max_entry_bytes: int) -> IngestResult:
    """Append one api spool file's entries to the spool, fsync, then delete the file."""
    result = IngestResult(files=1)
    unpacker = new_unpacker(max_entry_bytes)
    batch: list[Any] = []
    consumed = 0
    with path.open("rb") as handle:
        try:
            while data := handle.read(_READ):
                unpacker.feed(data)
                for obj in unpacker:
                    consumed = unpacker.tell()
                    batch.append(_entry(obj))
                    if len(batch) >= _FRAME_ENTRIES:
                        result.records += _flush(spool, batch)
        except Exception as exc:  # garbage or an oversized entry: the rest is dead-lettered
            reason = f"unreadable api spool data in {path.name}: {type(exc).__name__}"
            result.dead_letters += _remnant(handle, consumed, max_entry_bytes, reason, batch)
        else:
            end = handle.tell()
            if consumed < end:
                reason = f"truncated last entry in {path.name}"
                result.dead_letters += _remnant(handle, consumed, max_entry_bytes, reason, batch)
    result.records += _flush(spool, batch)
    spool.sync()
    path.unlink(missing_ok=True)
    return result


def _entry(obj: Any) -> Any:
    if (
        isinstance(obj, list)
        and len(obj) == 3
        and isinstance(obj[0], str)
        and isinstance(obj[1], int | float)
    ):
        return obj
    tag = obj[0] if isinstance(obj, list) and obj and isinstance(obj[0], str) else ""
    raw = msgpack.packb(obj, default=repr)
    return dead_letter_message(tag, raw, "not a [tag, time, record] entry", time.time())


def _remnant(handle: Any, offset: int, limit: int, reason: str, batch: list[Any]) -> int:
    handle.seek(offset)
    raw = handle.read(limit)
    if not raw:
        return 0
    batch.append(dead_letter_message("", raw, reason, time.time()))
    return 1


def _flush(spool: SpoolSink, batch: list[Any]) -> int:
    if not batch:
        return 0
    good = sum(1 for entry in batch if isinstance(entry, list))
    messages = b"".join(e if isinstance(e, bytes) else msgpack.packb(e) for e in batch)
    spool.append(batch_payload(messages, len(batch)))
    batch.clear()
    return good


def ingest_directory(
    api_dir: Path, spool: SpoolSink, *, stale_seconds: float, max_entry_bytes: int
) -> IngestResult:
    """Ingest every pending api spool file, stopping early while the spool is full."""
    total = IngestResult()
    for path in pending_files(api_dir, stale_seconds):
        if spool.full:
            break
        try:
            result = ingest_file(path, spool, max_entry_bytes)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot ingest api spool file %s: %s", path, exc)
            continue
        total.files += result.files
        total.records += result.records
        total.dead_letters += result.dead_letters
    if total.files:
        log.info("ingested %d api spool files (%d records)", total.files, total.records)
    return total


__all__ = ["IngestResult", "ingest_directory", "ingest_file", "pending_files"]
