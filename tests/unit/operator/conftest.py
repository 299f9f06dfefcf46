"""Fixtures for the operator's unit tests: settings, example Stores, Istio's CRD schemas."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from storefleet.operator import validation
from storefleet.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[3]
ISTIO_API_MODULE = "istio.io/api@v1.31.4"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def settings() -> OperatorSettings:
    return OperatorSettings()


def load_example(name: str) -> dict[str, Any]:
    store: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    store["metadata"]["uid"] = "5a1e6a4e-0000-4000-8000-000000000001"
    store["metadata"]["generation"] = 1
    return store


@pytest.fixture
def minimal_store() -> dict[str, Any]:
    return load_example("store.yaml")


@pytest.fixture
def full_store() -> dict[str, Any]:
    return load_example("store-full.yaml")


def edited(store: dict[str, Any], **spec: Any) -> dict[str, Any]:
    copied = copy.deepcopy(store)
    copied["spec"].update(spec)
    return copied


@pytest.fixture(scope="session")
def istio_schemas() -> dict[tuple[str, str], Any]:
    """Istio's real CRD schemas, from its Go module (downloaded once into the module cache)."""
    go = shutil.which("go")
    if go is None:
        message = "the go toolchain is needed to fetch Istio's CRDs (istio.io/api)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    found = subprocess.run(
        [go, "mod", "download", "-json", ISTIO_API_MODULE],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
    )
    if found.returncode != 0:
        message = f"could not fetch {ISTIO_API_MODULE}: {found.stdout}{found.stderr}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    path = Path(json.loads(found.stdout)["Dir"]) / "kubernetes/customresourcedefinitions.gen.yaml"
    crds = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return validation.crd_schemas_of(crds)
