"""``--shift FEATURE=DELTA``: one feature of the normal rows moved by DELTA training stds."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from client.responder import IRIS_STATS
from client.rows import RowSampler
from client.settings import LoadSettings
from client.shift import parse_shifts, shift_vector

STD = np.array([s.std for s in IRIS_STATS])


def test_a_shift_moves_only_its_feature_by_its_stds() -> None:
    shift = shift_vector(IRIS_STATS, (f"{IRIS_STATS[2].name}=2",))
    assert shift == [0.0, 0.0, 2.0, 0.0]
    plain, _ = RowSampler(IRIS_STATS, 0.0, seed=5).rows(5000)
    moved, _ = RowSampler(IRIS_STATS, 0.0, seed=5, shift=shift).rows(5000)
    assert np.allclose(moved - plain, [0.0, 0.0, 2.0 * STD[2], 0.0])


def test_outlier_rows_are_not_shifted() -> None:
    plain, flags = RowSampler(IRIS_STATS, 0.5, seed=6).rows(2000)
    moved, same = RowSampler(IRIS_STATS, 0.5, seed=6, shift=[1.0, 0, 0, 0]).rows(2000)
    assert (flags == same).all()
    assert np.array_equal(plain[flags], moved[flags])


def test_features_by_name_or_index_and_bad_ones_refused() -> None:
    items = ("0=-1", f"{IRIS_STATS[0].name}=0.5", "3=1")
    assert shift_vector(IRIS_STATS, items) == [-0.5, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="no feature 'leaf'"):
        shift_vector(IRIS_STATS, ("leaf=1",))
    with pytest.raises(ValueError, match="no feature '9'"):
        shift_vector(IRIS_STATS, ("9=1",))


def test_settings_parse_repeated_options_env_text_and_refuse_malformed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert LoadSettings(shift=("petal_length=1.5", "0=-2")).shift == ("petal_length=1.5", "0=-2")
    monkeypatch.setenv("PREDLOG_LOAD_SHIFT", "petal_length=1, 2=0.5")
    assert LoadSettings().shift == ("petal_length=1", "2=0.5")
    monkeypatch.setenv("PREDLOG_LOAD_SHIFT", LoadSettings().to_env()["PREDLOG_LOAD_SHIFT"])
    assert LoadSettings().shift == ("petal_length=1", "2=0.5")  # to_env's JSON list
    for bad in ("petal_length", "=1", "x=big", "x=nan"):
        with pytest.raises(ValidationError, match="FEATURE=DELTA"):
            LoadSettings(shift=(bad,))
    assert parse_shifts("") == ()


def test_the_option_repeats_on_the_command_line() -> None:
    from predlog.cli import main

    result = CliRunner().invoke(main, ["load", "--shift", "a=1", "--shift", "b", "--count", "1"])
    assert result.exit_code == 2
    assert "FEATURE=DELTA" in result.output
