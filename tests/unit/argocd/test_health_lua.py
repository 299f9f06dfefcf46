"""Argo CD's health check for Stores, run in Lua 5.1 (what Argo CD embeds) on Store
objects as the operator wrote them on the local control plane (captured by
tests/integration/operator/test_argocd_health.py, see tests/unit/argocd/capture.py)."""

from __future__ import annotations

import pytest
import yaml
from argocd_health import EXPECTED, ROOT, SCRIPT, fixture, health


@pytest.mark.parametrize(("name", "status", "message_part"), [(n, *e) for n, e in EXPECTED.items()])
def test_a_store_status_maps_to_argo_cd_health(name: str, status: str, message_part: str) -> None:
    got_status, message = health(fixture(name))
    assert got_status == status
    assert message_part in message


def test_a_ready_phase_from_an_older_generation_is_not_healthy() -> None:
    """The spec changed after the last reconcile: Argo CD must not call the sync done."""
    store = fixture("ready")
    store["metadata"]["generation"] = store["status"]["observedGeneration"] + 1
    assert health(store)[0] == "Progressing"


def test_a_failed_store_is_degraded_with_the_reason() -> None:
    store = fixture("degraded")
    store["status"]["phase"] = "Failed"
    status, message = health(store)
    assert status == "Degraded"
    assert message.startswith("Failed: ")


def test_the_argocd_cm_form_carries_the_same_script_for_store_and_vendor() -> None:
    config = yaml.safe_load((ROOT / "examples" / "argocd" / "argocd-cm.yaml").read_text())
    for kind in ("Store", "Vendor"):
        assert config["data"][f"resource.customizations.health.storefleet.io_{kind}"] == SCRIPT
