"""Fixtures of the operator's integration tests: CRDs installed, the operator running
as a real process (`storefleet operator run`) against the dev stack's control plane,
Stores that clean up after themselves, and whether the cluster serves Istio.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient
from storeharness import ROOT, Operator, Stores, istio_state


@pytest.fixture(scope="session")
def crds(kube_config: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "storefleet"), "operator", "install-crds"],
        env={**os.environ, "KUBECONFIG": kube_config},
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def operator(
    crds: None, kube_config: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    log_dir = ROOT / "test-artifacts" / "operator"
    log_dir.mkdir(parents=True, exist_ok=True)
    running = Operator(kube_config, log_dir)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def stores(kube_api: ApiClient, operator: Operator) -> Iterator[Stores]:
    made = Stores(kube_api)
    yield made
    made.cleanup()


@pytest.fixture
def istio(
    request: pytest.FixtureRequest, kube_api: ApiClient, operator: Operator
) -> Iterator[bool]:
    """Whether the cluster serves Istio's APIs during the test, as parametrized (the
    default: not): Istio's CRDs are installed or removed first and put back as they
    were afterwards, so a test's routing never depends on the tests before it.
    Ask for it before `stores`, so the test's Stores are gone before the CRDs change back.
    """
    served = bool(getattr(request, "param", False))
    with istio_state(kube_api, served):
        yield served
