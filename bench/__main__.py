"""``python -m bench [PART ...]``: run the benchmarks and save their figures.

Every part's benchmark compares ratios measured in one run on this machine; the figures
of the whole run are written to var/bench/results.json for the README.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PARTS = (
    "runtime",
    "api",
    "oip",
    "remote",
    "registry",
    "shadow",
    "store",
    "sidecar",
    "prune",
    "system",
    "dashboard",
    "load",
)


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default) one after another."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)}")
    parser.add_argument("--models", default="var/models", help="directory of model bundles")
    parser.add_argument("--out", default="var/bench/results.json", help="where to save figures")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    os.environ.setdefault("PREDLOG_MODELS_DIR", args.models)
    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    for part in args.parts or PARTS:
        print(f"\n=== bench {part} ===", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"bench.{part}")
        results[part] = {
            "figures": module.main([]),
            "seconds": round(time.monotonic() - started, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nfigures saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
