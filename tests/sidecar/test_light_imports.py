"""The modules the api imports from the sidecar stay light: the record contract and the
batched histogram import nothing of the sidecar's server, spool, writer or store; the api
imports those two and, for the model registry that lives in the store, the store's schema
and engine, never the sidecar's server, spool, writer or its other store modules (each
import checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIGHT = {"sidecar", "sidecar.record", "sidecar.batch_histogram"}
"""The sidecar modules the light ones may load."""
REGISTRY = {
    "sidecar.store",
    "sidecar.store.bins",  # the schema's histogram columns: constants only
    "sidecar.store.engine",
    "sidecar.store.histogram",
    "sidecar.store.jsontext",
    "sidecar.store.schema",
    "sidecar.store.schema_base",  # the schema's rooms, on its one MetaData
    "sidecar.store.schema_drift",
    "sidecar.store.schema_feedback",
    "sidecar.store.schema_registry",
}
"""What the api's model registry (``api.registry``) loads too: the tables and the engine."""

_LOADED = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if hasattr(module, "__path__"):  # a package: every module in it
        for info in pkgutil.walk_packages(module.__path__, name + "."):
            importlib.import_module(info.name)
print(json.dumps(sorted(n for n in sys.modules if n == "sidecar" or n.startswith("sidecar."))))
"""


def loaded_sidecar_modules(*modules: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", ["sidecar.record", "sidecar.batch_histogram"])
def test_the_light_modules_load_no_other_sidecar_module(module: str) -> None:
    assert loaded_sidecar_modules(module) <= LIGHT


def test_no_api_module_loads_the_sidecars_server_spool_writer_or_store() -> None:
    loaded = loaded_sidecar_modules("api")
    assert "sidecar.record" in loaded  # the contract is imported, so the check means something
    assert loaded <= LIGHT | REGISTRY, f"the api pulls in {sorted(loaded - LIGHT - REGISTRY)}"


def test_the_api_without_its_registry_loads_only_the_light_modules() -> None:
    loaded = loaded_sidecar_modules("api.handlers", "api.records", "api.runtime", "api.emitter")
    assert loaded <= LIGHT, f"the request path pulls in {sorted(loaded - LIGHT)}"
