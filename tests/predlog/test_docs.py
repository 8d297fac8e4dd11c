"""``python -m predlog.docs``: the README's tables rewritten from the settings, or checked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from predlog import docs


def test_rewrite_replaces_only_the_generated_part_and_check_says_so(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n\n{docs.BEGIN}\nold table\n{docs.END}\n\n## after\n")
    check = CliRunner().invoke(docs.command, ["--readme", str(readme), "--check"])
    assert check.exit_code == 1
    assert "old table" in readme.read_text()
    assert CliRunner().invoke(docs.command, ["--readme", str(readme)]).exit_code == 0
    text = readme.read_text()
    assert text.startswith(f"# intro\n\n{docs.BEGIN}\n\n**`predlog api`**")
    assert text.endswith(f"{docs.END}\n\n## after\n")
    assert docs.current(text) == docs.tables()
    assert CliRunner().invoke(docs.command, ["--readme", str(readme), "--check"]).exit_code == 0


def test_a_row_shows_what_help_shows() -> None:
    tables = docs.tables()
    assert "| `--batch-records` | `PREDLOG_SIDECAR_BATCH_RECORDS` | `1000` |" in tables
    assert "| `--migrate` / `--no-migrate` | `PREDLOG_SIDECAR_MIGRATE` | `off` |" in tables
    assert "| `--weights` | `PREDLOG_API_WEIGHTS` |  |" in tables  # empty: equal split
    assert "`<name>`/`<version>`/manifest.json" in tables  # not taken for HTML
