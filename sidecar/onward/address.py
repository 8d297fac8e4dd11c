"""``host:port`` of an aggregator, as ``--forward-to`` takes it."""

from __future__ import annotations


def parse_address(text: str) -> tuple[str, int]:
    """``"fluentd:24224"`` -> ("fluentd", 24224); ``[::1]:24224`` for IPv6. ValueError if not."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port (e.g. fluentd:24224), not {text!r}")
    return host, int(port)
