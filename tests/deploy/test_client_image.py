"""The client image holds only requirements/client.txt: ``predlog load`` must run with that."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: every module of a distribution the client lock lacks is refused.
PROGRAM = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not in the client image", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from predlog.cli import main
main(["load", *sys.argv[2:]])
"""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _not_in_the_client_image() -> set[str]:
    """Top-level modules installed here whose distribution the client lock does not pin."""
    lock = (ROOT / "requirements" / "client.txt").read_text()
    pinned = {_normal(m) for m in re.findall(r"^([A-Za-z0-9][\w.-]*)==", lock, re.MULTILINE)}
    pinned.add("predlog")  # the wheel itself
    return {
        module
        for module, dists in packages_distributions().items()
        if module.isidentifier() and not pinned & {_normal(d) for d in dists}
    }


def test_predlog_load_needs_only_the_client_lock() -> None:
    blocked = _not_in_the_client_image()
    assert {"sqlalchemy", "fastapi", "streamlit"} <= blocked  # the check can fail
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), ",".join(sorted(blocked)), "--help"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PREDLOG_LOAD_DURATION" in result.stdout
