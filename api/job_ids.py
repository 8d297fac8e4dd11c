"""Job ids: UUIDv7, unique across processes and restarts, sorting by creation time."""

from __future__ import annotations

import os
import time

_last_stamp = 0
_random = b""
_random_at = 0
_RANDOM_BATCH = 4096  # bytes of os.urandom per refill: one syscall per 512 ids


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): unique across processes and restarts, sorting by creation time.

    48-bit Unix milliseconds, then (method 3) a 12-bit fraction of the millisecond, then 62
    random bits. Within a process ids strictly increase. Written here rather than taken from
    ``uuid6.uuid7``, which costs twice as much and, past 1000 ids a second in one process,
    bumps its millisecond field ahead of the clock (ids from a busy worker would then sort
    after later ones from an idle worker); here that happens only past 4 million a second.
    Called by the event loop only (no lock).
    """
    global _last_stamp, _random, _random_at  # noqa: PLW0603 - per-process generator state
    stamp = time.time_ns() * 4096 // 1_000_000  # (ms << 12) | sub-millisecond fraction
    if stamp <= _last_stamp:
        stamp = _last_stamp + 1
    _last_stamp = stamp
    if _random_at >= len(_random):
        _random, _random_at = os.urandom(_RANDOM_BATCH), 0
    r = _random[_random_at : _random_at + 8].hex()
    _random_at += 8
    t = f"{stamp:015x}"
    return f"{t[:8]}-{t[8:12]}-7{t[12:]}-{_VARIANT[int(r[0], 16) >> 2]}{r[1:4]}-{r[4:]}"


_VARIANT = "89ab"  # the RFC 4122/9562 variant: the top two bits of the clock_seq field are 10


def _forget_random() -> None:
    # A forked child must not reuse its parent's unused random bytes: duplicate ids.
    global _random, _random_at
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random)
