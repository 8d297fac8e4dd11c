"""predlog's load generator: open-loop traffic at a constant arrival rate."""

from __future__ import annotations

from client.runner import LoadError, run_load, run_load_async
from client.settings import LoadSettings
from client.stats import Summary, format_summary

__all__ = ["LoadError", "LoadSettings", "Summary", "format_summary", "run_load", "run_load_async"]
