"""``predlog models``: its flags and how it says what went wrong (the calls themselves are
tested against real api processes in tests/api/registry/test_hot_update.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from predlog.cli import main
from tests.support import free_ports


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["models", *args])
    return result.exit_code, result.output


def test_an_unreachable_admin_api_is_one_line_and_exit_1() -> None:
    (port,) = free_ports(1)
    code, out = run("list", "--url", f"http://127.0.0.1:{port}")
    assert code == 1
    assert out.startswith(f"Error: cannot reach the admin API at http://127.0.0.1:{port}/admin")
    assert out.count("\n") == 1


def test_a_split_must_be_version_equals_weight() -> None:
    code, out = run("weight", "iris", "3=90", "2")
    assert code == 2
    assert "'2' is not VERSION=WEIGHT" in out
    code, out = run("weight", "iris", "3=lots")
    assert code == 2
    assert "'3=lots' is not VERSION=WEIGHT" in out


def test_deploy_takes_one_of_replace_and_shadow(tmp_path: Path) -> None:
    code, out = run("deploy", str(tmp_path), "--replace", "--shadow")
    assert code == 2
    assert "--replace and --shadow exclude each other" in out
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(b"")
    code, out = run("deploy", str(archive))
    assert code == 2
    assert "give --model for an archive" in out
