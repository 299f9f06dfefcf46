"""spec.notifications.smtp names a Secret the platform team makes: until it exists
with both keys the Store says which is missing, and the notifications pods wait;
a new password in it rolls the notifications pods, and only them."""

from __future__ import annotations

import base64

from kubernetes import client
from kubernetes.client import ApiClient
from storeharness import Stores, eventually

SMTP = {
    "host": "mail.example.com",
    "from": "shop@example.com",
    "credentialsSecretRef": {"name": "shop-smtp"},
}


def test_the_smtp_secret_is_checked_and_only_notifications_reads_it(
    stores: Stores, kube_api: ApiClient
) -> None:
    name = stores.create(notifications={"smtp": SMTP})
    namespace = f"store-{name}"

    def condition() -> dict[str, str]:
        return stores.conditions(name).get("NotificationsReady") or {}

    missing = eventually(
        lambda: (found := condition()).get("reason") == "SecretMissing" and found,
        "NotificationsReady to name the missing Secret",
    )
    assert missing["status"] == "False"
    assert "shop-smtp" in missing["message"]
    assert "username and password" in missing["message"]
    # A store that cannot send its e-mail is not Ready.
    assert stores.conditions(name)["Ready"]["status"] == "False"

    core = client.CoreV1Api(kube_api)
    secret = {
        "metadata": {"name": "shop-smtp"},
        "data": {"username": base64.b64encode(b"shop").decode()},
    }
    core.create_namespaced_secret(namespace, secret)
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "1"}}})
    no_key = eventually(
        lambda: (found := condition()).get("reason") == "SecretKeyMissing" and found,
        "NotificationsReady to name the missing key",
    )
    assert "no key password" in no_key["message"]

    secret["data"]["password"] = base64.b64encode(b"a generated one").decode()
    core.replace_namespaced_secret("shop-smtp", namespace, secret)
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "2"}}})
    ready = eventually(
        lambda: (found := condition()).get("status") == "True" and found,
        "NotificationsReady to be True",
    )
    assert ready["message"] == "e-mail goes through mail.example.com:587"

    deployments = client.AppsV1Api(kube_api).list_namespaced_deployment(namespace).items
    readers = {
        d.metadata.name
        for d in deployments
        for e in d.spec.template.spec.containers[0].env or []
        if e.value_from
        and e.value_from.secret_key_ref
        and e.value_from.secret_key_ref.name == "shop-smtp"
    }
    assert readers == {"notifications"}

    def rollout_marks() -> dict[str, str]:
        return {
            d.metadata.name: (d.spec.template.metadata.annotations or {}).get(
                "storefleet.io/config-checksum", ""
            )
            for d in client.AppsV1Api(kube_api).list_namespaced_deployment(namespace).items
        }

    before = rollout_marks()
    assert before["notifications"]
    assert {mark for service, mark in before.items() if service != "notifications"} == {""}
    secret["data"]["password"] = base64.b64encode(b"rotated by the platform team").decode()
    core.replace_namespaced_secret("shop-smtp", namespace, secret)
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "3"}}})
    after = eventually(
        lambda: (marks := rollout_marks())["notifications"] != before["notifications"] and marks,
        "the notifications pods to roll onto the new SMTP password",
    )
    assert {s: m for s, m in after.items() if s != "notifications"} == {
        s: m for s, m in before.items() if s != "notifications"
    }
