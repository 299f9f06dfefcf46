"""spec.payments with Stripe names a Secret the platform team makes: until it
exists with both keys the Store says which is missing; then the payments
service, and only it, reads the keys; a sandbox store says no real money moves."""

from __future__ import annotations

import base64

from kubernetes import client
from kubernetes.client import ApiClient
from storeharness import Stores, eventually

STRIPE = {"gateway": "stripe", "secretRef": {"name": "shop-stripe"}}


def test_the_gateway_secret_is_checked_and_only_payments_reads_it(
    stores: Stores, kube_api: ApiClient
) -> None:
    name = stores.create(payments=STRIPE)
    namespace = f"store-{name}"

    def condition() -> dict[str, str]:
        return stores.conditions(name).get("PaymentsReady") or {}

    missing = eventually(
        lambda: (found := condition()).get("reason") == "SecretMissing" and found,
        "PaymentsReady to name the missing Secret",
    )
    assert missing["status"] == "False"
    assert "shop-stripe" in missing["message"]
    assert "api-key and webhook-secret" in missing["message"]
    # A store that cannot take payments is not Ready.
    assert stores.conditions(name)["Ready"]["status"] == "False"

    core = client.CoreV1Api(kube_api)
    secret = {
        "metadata": {"name": "shop-stripe"},
        "data": {"api-key": base64.b64encode(b"a generated key").decode()},
    }
    core.create_namespaced_secret(namespace, secret)
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "1"}}})
    no_key = eventually(
        lambda: (found := condition()).get("reason") == "SecretKeyMissing" and found,
        "PaymentsReady to name the missing key",
    )
    assert "no key webhook-secret" in no_key["message"]

    secret["data"]["webhook-secret"] = base64.b64encode(b"a generated secret").decode()
    core.replace_namespaced_secret("shop-stripe", namespace, secret)
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "2"}}})
    ready = eventually(
        lambda: (found := condition()).get("status") == "True" and found,
        "PaymentsReady to be True",
    )
    assert ready["reason"] == "Stripe"

    deployments = client.AppsV1Api(kube_api).list_namespaced_deployment(namespace).items
    readers = {
        d.metadata.name
        for d in deployments
        for e in d.spec.template.spec.containers[0].env or []
        if e.value_from
        and e.value_from.secret_key_ref
        and e.value_from.secret_key_ref.name == "shop-stripe"
    }
    assert readers == {"payments"}


def test_a_store_without_a_gateway_says_no_real_money_moves(stores: Stores) -> None:
    name = stores.create()
    condition = eventually(
        lambda: stores.conditions(name).get("PaymentsReady"), "a PaymentsReady condition"
    )
    assert condition["status"] == "Unknown"
    assert condition["reason"] == "NotConfigured"
    assert "no real money moves" in condition["message"]
