"""Registry: weighted and pinned routing, weight validation, unknown names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from api.errors import ModelNotFoundError, ModelNotReadyError
from api.runtime import Registry
from tests.api.fixtures import fixed_version


def draw(registry: Registry, n: int, name: str | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        mv, routing = registry.choose(name)
        assert routing == "weighted"
        counts[mv.version] += 1
    return counts


def test_weighted_split_converges() -> None:
    registry = Registry(
        [fixed_version("m", "1"), fixed_version("m", "2")], {"1": 0.8, "2": 0.2}, seed=1
    )
    counts = draw(registry, 20_000)
    assert counts["1"] / 20_000 == pytest.approx(0.8, abs=0.02)
    assert registry.weights("m") == {"1": 0.8, "2": 0.2}


def test_default_split_is_equal() -> None:
    registry = Registry(
        [fixed_version("m", "2"), fixed_version("m", "1"), fixed_version("m", "3")], seed=2
    )
    assert registry.weights("m") == pytest.approx({"1": 1 / 3, "2": 1 / 3, "3": 1 / 3})
    counts = draw(registry, 30_000)
    for version in "123":
        assert counts[version] / 30_000 == pytest.approx(1 / 3, abs=0.02)


def test_weights_are_normalised_and_zero_means_pinned_only() -> None:
    registry = Registry(
        [fixed_version("m", "1"), fixed_version("m", "2")], {"1": 3, "2": 0}, seed=3
    )
    assert registry.weights("m") == {"1": 1.0, "2": 0.0}
    assert set(draw(registry, 2_000)) == {"1"}
    mv, routing = registry.choose("m", "2")
    assert (mv.version, routing) == ("2", "pinned")


def test_seed_repeats_the_sequence() -> None:
    def sequence(seed: int) -> list[str]:
        registry = Registry([fixed_version("m", "1"), fixed_version("m", "2")], seed=seed)
        return [registry.choose()[0].version for _ in range(200)]

    assert sequence(5) == sequence(5)
    assert sequence(5) != sequence(6)


def test_pinned() -> None:
    registry = Registry([fixed_version("m", "1"), fixed_version("m", "2")], {"1": 1.0, "2": 0.0})
    for _ in range(50):
        mv, routing = registry.choose("m", "2")
        assert (mv.name, mv.version, routing) == ("m", "2", "pinned")


def test_unknown_model_and_version() -> None:
    registry = Registry([fixed_version("m", "1")])
    with pytest.raises(ModelNotFoundError, match="no model named 'x'") as exc:
        registry.choose("x")
    assert exc.value.status_code == 404
    with pytest.raises(ModelNotFoundError, match="has no version '9'"):
        registry.choose("m", "9")
    with pytest.raises(ModelNotFoundError):
        registry.choose(None, "9")
    with pytest.raises(ModelNotFoundError):
        registry.versions("x")
    with pytest.raises(ModelNotFoundError):
        registry.weights("x")


def test_not_loaded() -> None:
    registry = Registry([fixed_version("m", "1", ready=False)])
    assert not registry.ready
    with pytest.raises(ModelNotReadyError):
        registry.choose()
    registry.load()
    assert registry.ready
    assert registry.choose()[0].ready


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"3": 1.0}, "unknown version '3'"),
        ({"1": 0.0, "2": 0.0}, "all zero"),
        ({"1": -1.0}, "finite number >= 0"),
        ({"1": float("nan")}, "finite number >= 0"),
        ({"other/1": 1.0}, "unknown version 'other/1'"),
    ],
)
def test_invalid_weights(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry([fixed_version("m", "1"), fixed_version("m", "2")], weights)


def test_no_versions() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Registry([])


def test_duplicate_version() -> None:
    with pytest.raises(ValueError, match="twice"):
        Registry([fixed_version("m", "1"), fixed_version("m", "1")])


def test_several_models() -> None:
    registry = Registry(
        [
            fixed_version("b", "1"),
            fixed_version("a", "10"),
            fixed_version("a", "2"),
            fixed_version("b", "2"),
        ],
        {"2": 1.0, "b/1": 1.0, "b/2": 0.0},
        seed=4,
    )
    assert registry.names() == ["a", "b"]
    assert registry.default_name == "a"
    assert [mv.version for mv in registry.versions("a")] == ["2", "10"]
    # a: only "2" is named, so "10" gets no weighted traffic; b: "b/2" wins over "2"
    assert registry.weights("a") == {"2": 1.0, "10": 0.0}
    assert registry.weights("b") == {"1": 1.0, "2": 0.0}
    assert set(draw(registry, 500)) == {"2"}
    assert set(draw(registry, 500, "b")) == {"1"}


def test_model_without_named_versions_splits_equally() -> None:
    registry = Registry(
        [fixed_version("a", "1"), fixed_version("a", "2"), fixed_version("b", "x")], {"1": 1.0}
    )
    assert registry.weights("b") == {"x": 1.0}
    assert registry.weights("a") == {"1": 1.0, "2": 0.0}


def test_from_directory(models_dir: Path) -> None:
    registry = Registry.from_directory(models_dir, {"1": 0.9, "2": 0.1}, seed=0)
    assert registry.names() == ["iris"]
    assert [mv.version for mv in registry.versions("iris")] == ["1", "2"]
    assert not registry.ready
    registry.load()
    assert registry.ready
    counts = draw(registry, 5_000)
    assert counts["1"] / 5_000 == pytest.approx(0.9, abs=0.03)
    registry.unload()


def test_sticky_keys_reach_one_version_and_follow_the_weights() -> None:
    versions = [fixed_version("m", "1"), fixed_version("m", "2")]
    registry = Registry(versions, {"1": 0.7, "2": 0.3}, seed=1)
    again = Registry([fixed_version("m", "1"), fixed_version("m", "2")], {"1": 0.7, "2": 0.3})
    counts: Counter[str] = Counter()
    for i in range(5_000):
        key = f"request-{i}"
        first, routing = registry.choose(sticky=key)
        assert routing == "sticky"
        # the same key, in another registry (another process): the same version, every time
        assert registry.choose(sticky=key)[0].version == first.version
        assert again.choose(sticky=key)[0].version == first.version
        counts[first.version] += 1
    assert counts["1"] / 5_000 == pytest.approx(0.7, abs=0.03)
    pinned, routing = registry.choose(version="2", sticky="request-1")
    assert (pinned.version, routing) == ("2", "pinned")  # a pin wins over stickiness
