"""A Store's life on a real control plane: created, reconciled, repaired, resized, deleted."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from storeharness import (
    BOTH_ROUTINGS,
    TIMEOUT,
    Operator,
    Stores,
    eventually,
    kubectl,
    owned_objects,
)

from storefleet.operator import desired, render
from storefleet.operator.plans import PLANS
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioning import TenantProvisioning
from storefleet.operator.services import SERVICES
from storefleet.operator.settings import OperatorSettings

CONDITIONS = ("Ready", "NamespaceReady", "RuntimeReady", "RoutesReady", "DatabaseReady")


def expected_objects(stores: Stores, name: str, istio: bool) -> set[str]:
    store = stores.get(name)
    context = desired.build(store, desired.ClusterFeatures(istio=istio), OperatorSettings())
    # The operator under test has no shared servers: what provisioning renders offline.
    desired.with_tenancy(context, TenantProvisioning(None, ProvisionerSettings()).offline(context))
    return {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in render.render(context, OperatorSettings().templates_dir)
        if o["kind"] != "Namespace"
    }


def routing_is_istio(stores: Stores, name: str) -> bool:
    return (stores.get(name).get("status") or {}).get("routing") == "Istio"


def refusal(exc: Exception) -> str:
    """The API server's message, as kubectl prints it."""
    message: str = json.loads(exc.body)["message"]  # type: ignore[attr-defined]
    return message


@BOTH_ROUTINGS
def test_a_store_becomes_ready_with_everything_it_needs(istio: bool, stores: Stores) -> None:
    started = time.monotonic()
    name = stores.create()
    store = stores.wait_ready(name)
    elapsed = time.monotonic() - started
    print(f"\nStore {name} Ready {elapsed:.1f}s after it was created")

    status = store["status"]
    assert status["namespace"] == f"store-{name}"
    assert status["url"] == f"https://{name}.shop.example.com"
    conditions = stores.conditions(name)
    for condition in CONDITIONS:
        assert conditions[condition]["status"] == "True", conditions[condition]
        assert conditions[condition]["observedGeneration"] == store["metadata"]["generation"]
    assert status["servicesReady"] == f"{len(SERVICES)}/{len(SERVICES)}"

    namespace = stores.core.read_namespace(f"store-{name}")
    assert namespace.metadata.labels["storefleet.io/store"] == name
    assert status["routing"] == ("Istio" if istio else "Ingress")
    found = owned_objects(f"store-{name}")
    assert set(found) == expected_objects(stores, name, istio)
    for deployment in (
        client.AppsV1Api(stores.api).list_namespaced_deployment(f"store-{name}").items
    ):
        available = {c.type: c.status for c in deployment.status.conditions or []}
        assert available.get("Available") == "True", deployment.metadata.name

    table = kubectl("get", "stores", name).stdout
    assert "Ready" in table
    assert f"https://{name}.shop.example.com" in table
    assert "small" in table


def test_reconciling_again_changes_nothing(stores: Stores, operator: Operator) -> None:
    name = stores.create()
    stores.wait_ready(name)
    namespace = f"store-{name}"
    time.sleep(3)  # let controllers finish their own status writes
    before = owned_objects(namespace)
    status_before = stores.get(name)["status"]
    updates = operator.reconciles("update")

    stores.patch(
        name,
        {"metadata": {"annotations": {"storefleet.io/reconcile-request": str(time.time())}}},
    )
    eventually(lambda: operator.reconciles("update") > updates, "a reconcile after the request")
    after = owned_objects(namespace)

    assert set(after) == set(before)
    changed = [
        key
        for key, obj in after.items()
        if obj["metadata"]["resourceVersion"] != before[key]["metadata"]["resourceVersion"]
        and _ours(obj) != _ours(before[key])
    ]
    assert changed == [], "the second reconcile rewrote objects"
    # Objects without a status controller must not have been written at all.
    for key, obj in after.items():
        if obj["kind"] in {"ConfigMap", "Service", "NetworkPolicy", "Role", "RoleBinding"}:
            assert obj["metadata"]["resourceVersion"] == before[key]["metadata"]["resourceVersion"]
    assert stores.get(name)["status"] == status_before


def _ours(obj: dict[str, Any]) -> Any:
    """What the operator's field manager last wrote, and when."""
    return [
        (entry.get("time"), entry.get("fieldsV1"))
        for entry in obj["metadata"].get("managedFields") or []
        if entry.get("manager") == "storefleet-operator"
    ]


def test_drift_is_restored(stores: Stores) -> None:
    name = stores.create()
    stores.wait_ready(name)
    namespace = f"store-{name}"
    core, apps = stores.core, client.AppsV1Api(stores.api)

    core.delete_namespaced_config_map("store-settings", namespace)
    apps.delete_namespaced_deployment("cart", namespace)
    apps.patch_namespaced_deployment(
        "catalog",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "catalog", "image": "evil:1"}]}}}},
    )
    core.patch_namespaced_service("orders", namespace, {"metadata": {"labels": {"x": "y"}}})

    eventually(
        lambda: core.read_namespaced_config_map("store-settings", namespace),
        "the deleted ConfigMap to come back",
    )
    eventually(
        lambda: apps.read_namespaced_deployment("cart", namespace),
        "the deleted Deployment to come back",
    )
    eventually(
        lambda: (
            apps.read_namespaced_deployment("catalog", namespace)
            .spec.template.spec.containers[0]
            .image.startswith("ghcr.io/storefleet/runtime:")
        ),
        "the edited image to be restored",
    )
    stores.wait_ready(name)
    eventually(
        lambda: any(e["reason"] == "DriftCorrected" for e in stores.events(name)),
        "a DriftCorrected event",
    )


def test_plan_change_resizes_the_tenant(stores: Stores) -> None:
    name = stores.create()
    stores.wait_ready(name)
    namespace = f"store-{name}"
    autoscaling = client.AutoscalingV2Api(stores.api)
    apps = client.AppsV1Api(stores.api)

    stores.patch(name, {"spec": {"plan": "large"}})
    large = PLANS["large"]
    store = stores.wait_ready(name, timeout=TIMEOUT)
    assert store["status"]["observedGeneration"] == store["metadata"]["generation"]
    for hpa in autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items:
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (
            large.min_replicas,
            large.max_replicas,
        )
    for deployment in apps.list_namespaced_deployment(namespace).items:
        assert deployment.spec.replicas >= large.min_replicas, deployment.metadata.name
        assert deployment.status.ready_replicas >= large.min_replicas
    quota = stores.core.read_namespaced_resource_quota("plan", namespace)
    assert quota.spec.hard == large.quota


@BOTH_ROUTINGS
def test_removing_a_domain_prunes_its_route(istio: bool, stores: Stores) -> None:
    name = stores.create(domains=["a.example.com", "b.example.com"])
    stores.wait_ready(name)
    namespace = f"store-{name}"
    assert routing_is_istio(stores, name) == istio

    def hosts() -> set[str]:
        found = owned_objects(namespace)
        if istio:
            return {
                h
                for key, obj in found.items()
                if key.startswith("VirtualService/")
                for h in obj["spec"]["hosts"]
            }
        return {r["host"] for r in found["Ingress/storefront"]["spec"]["rules"]}

    assert hosts() == {"a.example.com", "b.example.com"}
    stores.patch(name, {"spec": {"domains": ["a.example.com"]}})
    stores.wait_ready(name)
    eventually(lambda: hosts() == {"a.example.com"}, "the removed domain's route to go")
    assert stores.get(name)["status"]["url"] == "https://a.example.com"


def test_suspend_scales_to_zero_and_says_so(stores: Stores) -> None:
    name = stores.create()
    stores.wait_ready(name)
    namespace = f"store-{name}"
    apps = client.AppsV1Api(stores.api)

    stores.patch(name, {"spec": {"suspend": True}})
    eventually(
        lambda: stores.get(name).get("status", {}).get("phase") == "Suspended", "phase Suspended"
    )
    eventually(
        lambda: all(d.spec.replicas == 0 for d in apps.list_namespaced_deployment(namespace).items),
        "every Deployment at zero",
    )
    assert (
        not client.AutoscalingV2Api(stores.api)
        .list_namespaced_horizontal_pod_autoscaler(namespace)
        .items
    )
    assert stores.conditions(name)["Ready"]["reason"] == "Suspended"

    stores.patch(name, {"spec": {"suspend": False}})
    stores.wait_ready(name)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"domains": ["https://shop.example.com"]},
            "each domain must be a lowercase DNS name with at least one dot",
        ),
        (
            {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
            "spec.autoscaling.minReplicas must be less than or equal to "
            "spec.autoscaling.maxReplicas",
        ),
        ({"plan": "huge"}, 'Unsupported value: "huge": supported values: "small", "standard"'),
        (
            {"branding": {"logoUrl": "http://cdn.example.com/logo.png"}},
            "spec.branding.logoUrl must be an absolute https:// URL",
        ),
        (
            {"services": {"storefront": {"enabled": False}}},
            "spec.services.storefront.enabled cannot be false",
        ),
        (
            {"mesh": {"canary": {"version": "0.1.0", "weight": 10}}},
            "spec.mesh.canary.version must differ from spec.runtime.version",
        ),
        (
            {"database": {"enabled": False}},
            "spec.database.enabled: false is not supported",
        ),
        (
            {"cache": {"enabled": False}},
            "spec.cache.enabled: false is not supported",
        ),
        (
            {
                "notifications": {
                    "sms": {"url": "http://sms.example.com/hook", "secretRef": {"name": "s"}}
                }
            },
            "spec.notifications.sms.url",
        ),
        (
            {"placement": {"tolerations": [{"key": "pool", "operator": "Exists", "value": "x"}]}},
            "a toleration with operator Exists matches any value: leave value out",
        ),
        (
            {"placement": {"tolerations": [{"key": "pool", "tolerationSeconds": 30}]}},
            "tolerationSeconds only applies to effect NoExecute",
        ),
        (
            {
                "notifications": {
                    "smtp": {
                        "host": "mail.example.com",
                        "from": "shop@example.com",
                        "security": "none",
                        "credentialsSecretRef": {"name": "smtp"},
                    }
                }
            },
            "credentialsSecretRef needs security starttls or tls",
        ),
        (
            {"notifications": {"smtp": {"host": "mail.example.com", "from": "not-an-address"}}},
            "spec.notifications.smtp.from",
        ),
        (
            {"payments": {"gateway": "stripe"}},
            "spec.payments.secretRef is required with gateway stripe",
        ),
        (
            {"payments": {"gateway": "paypal"}},
            "spec.payments.gateway",
        ),
    ],
    ids=[
        "bad-domain",
        "min-over-max",
        "unknown-plan",
        "http-logo",
        "no-storefront",
        "canary",
        "database-off",
        "cache-off",
        "sms-over-http",
        "exists-with-value",
        "toleration-seconds",
        "smtp-password-in-plain-text",
        "smtp-bad-sender",
        "stripe-without-secret",
        "unknown-gateway",
    ],
)
def test_invalid_specs_are_refused_with_a_message_that_says_what_to_fix(
    stores: Stores, spec: dict[str, Any], message: str
) -> None:
    from kubernetes.client.exceptions import ApiException

    name = Stores.unique("bad")
    with pytest.raises(ApiException) as refused:
        stores.custom.create_cluster_custom_object(
            "storefleet.io", "v1alpha1", "stores", stores.body(name, **spec)
        )
    assert refused.value.status == 422
    assert message in refusal(refused.value)


def test_a_too_long_name_is_refused(stores: Stores) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        stores.custom.create_cluster_custom_object(
            "storefleet.io", "v1alpha1", "stores", stores.body("x" * 51)
        )
    assert "metadata.name must be at most 50 characters" in refusal(refused.value)


def test_retain_cannot_become_delete_while_deleting(stores: Stores) -> None:
    from kubernetes.client.exceptions import ApiException

    # Paused, so the operator leaves the status this test writes alone.
    name = stores.create()
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/paused": "true"}}})
    stores.custom.patch_cluster_custom_object_status(
        "storefleet.io",
        "v1alpha1",
        "stores",
        name,
        {"status": {"phase": "Deleting", "phaseReason": "test"}},
    )
    with pytest.raises(ApiException) as refused:
        stores.patch(name, {"spec": {"deletionPolicy": "Delete"}})
    assert "cannot change from Retain to Delete while the Store is Deleting" in refusal(
        refused.value
    )
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/paused": None}}})


@pytest.mark.parametrize(
    ("policy", "reason"), [("Retain", "DataRetained"), ("Delete", "DataDeleted")]
)
def test_deleting_a_store_removes_its_namespace_and_says_what_happened_to_data(
    stores: Stores, policy: str, reason: str
) -> None:
    name = stores.create(deletionPolicy=policy)
    stores.wait_ready(name)
    started = datetime.now(UTC)
    stores.delete(name)
    eventually(lambda: stores.gone(name), "the Store to be released by its finalizer", 120)

    def namespace_gone() -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            stores.core.read_namespace(f"store-{name}")
        except ApiException as exc:
            return exc.status == 404
        return False

    assert namespace_gone(), "the finalizer must wait for the namespace"
    events = {e["reason"]: e for e in stores.events(name)}
    assert reason in events
    assert f"deletionPolicy is {policy}" in events[reason]["message"]
    print(f"\nStore {name} ({policy}) deleted in {(datetime.now(UTC) - started).seconds}s")


def test_the_operator_converges_after_being_killed_mid_reconcile(
    stores: Stores, operator: Operator
) -> None:
    name = stores.create(plan="standard")
    eventually(
        lambda: stores.core.read_namespace(f"store-{name}"), "the reconcile to have started", 30
    )
    operator.kill()
    operator.start()
    stores.wait_ready(name)


def test_a_paused_store_is_left_alone_until_unpaused(stores: Stores) -> None:
    name = Stores.unique()
    body = stores.body(name)
    body["metadata"]["annotations"] = {"storefleet.io/paused": "true"}
    stores.created.append(name)
    stores.custom.create_cluster_custom_object("storefleet.io", "v1alpha1", "stores", body)
    eventually(
        lambda: stores.get(name).get("status", {}).get("phaseReason") == "ReconcilePaused",
        "the Store to say it is paused",
    )
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as missing:
        stores.core.read_namespace(f"store-{name}")
    assert missing.value.status == 404

    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/paused": None}}})
    stores.wait_ready(name)


def test_a_vendor_cannot_move_to_another_store(stores: Stores) -> None:
    from kubernetes.client.exceptions import ApiException

    name = Stores.unique("vendor")
    vendor = {
        "apiVersion": "storefleet.io/v1alpha1",
        "kind": "Vendor",
        "metadata": {"name": name},
        "spec": {
            "storeRef": "acme",
            "displayName": "Trail Gear Co",
            "contactEmail": "sales@trailgear.example",
        },
    }
    created = stores.custom.create_namespaced_custom_object(
        "storefleet.io", "v1alpha1", "default", "vendors", vendor
    )
    try:
        assert created["spec"]["commissionPercent"] == 10
        assert created["spec"]["payout"] == {
            "currency": "USD",
            "schedule": "Weekly",
            "minimumAmount": 0,
        }
        with pytest.raises(ApiException) as refused:
            stores.custom.patch_namespaced_custom_object(
                "storefleet.io", "v1alpha1", "default", "vendors", name, {"spec": {"storeRef": "x"}}
            )
        assert "spec.storeRef is immutable" in refusal(refused.value)
    finally:
        stores.custom.delete_namespaced_custom_object(
            "storefleet.io", "v1alpha1", "default", "vendors", name
        )
