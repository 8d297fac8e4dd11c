"""schemathesis (its command line, as a user runs it) against the admin API's OpenAPI schema
of a real api server: before any key exists (loopback: the operator), then without a key,
with a read key and with a manage key. No answer may be a 5xx. Bounded: a few examples
per route and a time budget per run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.registry.operator import StoreAdmin
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.api.registry.world import served, settings_for

pytestmark = pytest.mark.slow
ST = Path(sys.executable).parent / "st"
EXAMPLES = 5
"""Examples per route and run, after the examples and coverage phases."""
SECONDS = 12
"""The time budget of one run."""


def schemathesis(
    url: str, tmp: Path, key: str | None, *exclude: str
) -> subprocess.CompletedProcess[str]:
    # without a key, schemathesis would make up a bearer token from the security scheme
    options = ["-H", f"Authorization: Bearer {key}"] if key else []
    options += ["--generation-with-security-parameters", "false"]
    for operation in exclude:
        options += ["--exclude-operation-id", operation]
    return subprocess.run(
        [
            str(ST), "run", f"{url}/openapi.json", "--include-path-regex", "^/admin",
            "--checks", "not_a_server_error", "-n", str(EXAMPLES), "--max-time", str(SECONDS),
            "--seed", "12", "--phases", "examples,coverage,fuzzing", "--no-shrink",
            "--generation-database", "none", "--report-dir", str(tmp / "reports"),
            "--request-timeout", "30", *options,
        ],
        capture_output=True, text=True, timeout=SECONDS * 4, check=False, cwd=tmp,
    )  # fmt: skip


def test_no_5xx_with_and_without_keys(sqlite_url: str, models_dir: Path, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with served(settings_for(sqlite_url, models_dir, tmp_path)) as url:
        # the operator (loopback, no key yet) everywhere but where a key would be made:
        # after that, every call needs one
        runs = {
            "no keys yet (loopback)": schemathesis(
                url, tmp_path, None, "create_key_admin_keys_post"
            )
        }
        operator = StoreAdmin(engine, "ops")
        read = operator.create_key("rita", "default", "read")["key"]
        manage = operator.create_key("mona", "default", "manage")["key"]
        for name, key in (("no key", None), ("read key", read), ("manage key", manage)):
            runs[name] = schemathesis(url, tmp_path, key)
    engine.dispose()
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        generated, passed = map(int, re.findall(r"(\d+) generated, (\d+) passed", run.stdout)[0])
        assert generated == passed > 20, name
        # schemathesis names the operations that answered only 401 (or only 403). Without
        # a key, every operation is refused; with one, none is (a read key may still meet
        # only 403s where it asks to change: how many depends on the examples the time
        # budget allows, so that is left out).
        assert ("401 Unauthorized (" in run.stdout) == (name == "no key"), name
        if name != "read key":
            assert ("403 Forbidden (" in run.stdout) is False, name
