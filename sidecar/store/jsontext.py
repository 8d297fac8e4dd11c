"""Compact JSON text for the store's JSON columns: orjson when installed, else the stdlib."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson

    def dumps_json(value: Any) -> str:
        """Compact JSON text that json.loads reads back to an equal value."""
        return orjson.dumps(value).decode()

except ImportError:  # pragma: no cover - orjson ships with the sidecar extra

    def dumps_json(value: Any) -> str:
        """Compact JSON text that json.loads reads back to an equal value."""
        return json.dumps(value, separators=(",", ":"))
