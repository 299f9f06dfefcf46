"""Argo CD's health check on Stores the operator reconciles: one Store in each state
it can be in, judged by examples/argocd/health.lua as Argo CD would.

With STOREFLEET_CAPTURE_ARGOCD_FIXTURES=1 (`python tests/unit/argocd/capture.py`)
the objects are also written to tests/unit/argocd/fixtures/, which the unit tests
of the script use: the fixtures are always something this operator wrote.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from storeharness import ROOT, SESSION_LABEL, Operator, Stores, eventually


def _argocd() -> ModuleType:
    """tests/unit/argocd/argocd_health.py: the script's runner and the fixtures' home."""
    name = "storefleet_argocd_health"
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests/unit/argocd/argocd_health.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


argocd = _argocd()
CAPTURE = os.environ.get(argocd.CAPTURE_ENV) == "1"


class HeldPods:
    """A ValidatingAdmissionPolicy that refuses new pods in some tenant namespaces:
    a Store's services then never become (or stay) available."""

    def __init__(self, api: ApiClient) -> None:
        self.admission = client.AdmissionregistrationV1Api(api)
        self.name = f"hold-pods-{secrets.token_hex(3)}"
        self.bindings: list[str] = []

    def create(self) -> None:
        self.admission.create_validating_admission_policy(
            {
                "metadata": {"name": self.name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE"],
                                "resources": ["pods"],
                            }
                        ]
                    },
                    "validations": [{"expression": "false", "message": "pods are held back"}],
                },
            }
        )

    def hold(self, namespace: str) -> None:
        binding = f"{self.name}-{len(self.bindings)}"
        self.admission.create_validating_admission_policy_binding(
            {
                "metadata": {"name": binding},
                "spec": {
                    "policyName": self.name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}
                        }
                    },
                },
            }
        )
        self.bindings.append(binding)

    def holding(self, namespace: str) -> bool:
        """Whether the API server refuses a pod there now (policies take a moment)."""
        # Fit for the namespace's restricted Pod Security level, which is checked first.
        probe = {
            "metadata": {"generateName": "probe-"},
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "probe",
                        # From the repository the tenant guardrails allow.
                        "image": "ghcr.io/storefleet/probe:1",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }
        try:
            client.CoreV1Api(self.admission.api_client).create_namespaced_pod(
                namespace, probe, dry_run="All"
            )
        except ApiException as exc:
            return "held back" in str(exc.body)
        return False

    def remove(self) -> None:
        for binding in self.bindings:
            self.admission.delete_validating_admission_policy_binding(binding)
        self.admission.delete_validating_admission_policy(self.name)


@pytest.fixture
def held_pods(kube_api: ApiClient) -> Iterator[HeldPods]:
    held = HeldPods(kube_api)
    held.create()
    yield held
    held.remove()


def phase(store: dict[str, Any]) -> str | None:
    found: str | None = (store.get("status") or {}).get("phase")
    return found


def observed_in(wanted: str) -> Callable[[dict[str, Any]], bool]:
    """The operator has written the Store's current generation, in phase `wanted`."""

    def check(store: dict[str, Any]) -> bool:
        return observed(store) and phase(store) == wanted

    return check


def record(stores: Stores, state: str, name: str, check: Callable[[dict[str, Any]], bool]) -> None:
    """The Store as the API server holds it, once `check` holds for it; judged by the
    health script as the state's fixture expects, and written as that fixture."""

    def found() -> dict[str, Any] | None:
        store = stores.get(name)
        return store if check(store) else None

    store = eventually(found, f"Store {name} to be {state}")
    captured = argocd.as_fixture(store, drop_labels=(SESSION_LABEL,))
    status, part = argocd.EXPECTED[state]
    got_status, message = argocd.health(captured)
    assert (got_status, part in message) == (status, True), (state, got_status, message)
    if CAPTURE:
        argocd.write_fixture(state, captured)


def observed(store: dict[str, Any]) -> bool:
    status = store.get("status") or {}
    return status.get("observedGeneration") == store["metadata"]["generation"]


def test_a_new_store_is_waiting_for_the_operator(kube_api: ApiClient, operator: Operator) -> None:
    """Before the operator's first write: a Store no operator watches stays like that."""
    unwatched = Stores(kube_api, session=f"unwatched-{secrets.token_hex(3)}")
    name = unwatched.create()
    try:
        record(unwatched, "new", name, lambda store: "status" not in store)
    finally:
        unwatched.cleanup()


def test_a_store_whose_pods_are_held_is_provisioning(
    istio: bool, stores: Stores, held_pods: HeldPods
) -> None:
    name = Stores.unique()
    held_pods.hold(f"store-{name}")
    stores.create(name)
    record(stores, "provisioning", name, observed_in("Provisioning"))


def test_a_store_through_ready_spec_change_suspend_degraded_and_deleting(
    istio: bool, stores: Stores, operator: Operator, held_pods: HeldPods
) -> None:
    name = stores.create()
    namespace = f"store-{name}"
    stores.wait_ready(name)
    record(stores, "ready", name, observed_in("Ready"))

    # The spec moves on while the operator is down: the status is a generation behind.
    operator.stop()
    try:
        stores.patch(name, {"spec": {"suspend": True}})
        record(stores, "spec-changed", name, lambda store: not observed(store))
    finally:
        operator.start()
    record(stores, "suspended", name, observed_in("Suspended"))

    # Back up and Ready, then a service loses its pods and cannot get them back.
    stores.patch(name, {"spec": {"suspend": False}})
    stores.wait_ready(name)
    held_pods.hold(namespace)
    eventually(lambda: held_pods.holding(namespace), "the admission policy to hold pods")
    core = client.CoreV1Api(stores.api)
    core.delete_collection_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=cart")
    record(stores, "degraded", name, observed_in("Degraded"))

    # Deleted: the finalizer holds the Store while its namespace goes.
    stores.delete(name)
    record(
        stores,
        "deleting",
        name,
        lambda store: (
            bool(store["metadata"].get("deletionTimestamp")) and phase(store) == "Deleting"
        ),
    )
