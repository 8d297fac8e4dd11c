"""``python -m tests.faults.report``: the fault suite's figures as Markdown, one table per
scenario, from test-output/faults/results.jsonl (what the last run recorded)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.faults.harness import RESULTS

COLUMNS = ("sent", "answered", "stored", "lost", "duplicated", "counted")


def notes(row: dict[str, Any]) -> str:
    extra = row.get("extra", {})
    parts = []
    if extra.get("resends_absorbed"):
        parts.append(f"{extra['resends_absorbed']} resent records stored once")
    if extra.get("store_errors"):
        parts.append(f"{extra['store_errors']} failed store writes retried")
    if row["sent"] > row["answered"]:
        parts.append(
            f"{row['sent'] - row['answered']} requests unanswered (in flight on the killed worker)"
        )
    if "roll" in extra:
        roll = extra["roll"]
        conns = roll.get("connections", {})
        parts.append(
            f"old api drained and exited {roll.get('old_exit')}; connections to old/new "
            f"{conns.get('old', 0)}/{conns.get('new', 0)}, {roll.get('refused', 0)} refused"
        )
    if extra.get("uncounted"):
        parts.append(f"{extra['uncounted']} lost and not counted")
    if "api_records" in extra:
        parts.append(
            "api records " + ", ".join(f"{k} {int(v)}" for k, v in extra["api_records"].items())
        )
    if "dead_letters" in extra:
        parts.append(f"{extra['dead_letters']} dead letters")
    if "sidecar_rss_mib" in extra:
        before, after = extra["sidecar_rss_mib"]
        parts.append(f"sidecar RSS {before} -> {after} MiB")
    if "lag_s" in extra:
        lag = extra["lag_s"]
        parts.append(f"lag p50 {lag['p50']} s, p99 {lag['p99']} s, max {lag['max']} s")
    if "rss_mib_first_last_third" in extra:
        rss = extra["rss_mib_first_last_third"].values()
        parts.append("RSS MiB first/last third: " + ", ".join(f"{a}/{b}" for a, b in rss))
    return "; ".join(parts)


def render(rows: list[dict[str, Any]]) -> str:
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_scenario[row["scenario"].split(".", 1)[0]].append(row)
    out = []
    for number in sorted(by_scenario, key=int):
        out.append(f"Scenario {number}:\n")
        out.append("| run | store | " + " | ".join(COLUMNS) + " | notes |")
        out.append("|---|---|" + "---:|" * len(COLUMNS) + "---|")
        for row in by_scenario[number]:
            name = row["scenario"].split(". ", 1)[-1]
            cells = " | ".join(str(row[c]) for c in COLUMNS)
            out.append(f"| {name} | {row['store']} | {cells} | {notes(row)} |")
        out.append("")
    return "\n".join(out)


def main(path: Path = RESULTS) -> int:
    if not path.exists():
        print(f"no figures in {path}", file=sys.stderr)
        return 1
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
