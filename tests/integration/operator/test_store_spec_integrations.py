"""An integration a Store names in its spec (its mail server, its payment gateway)
names a Secret the platform team makes: until it exists with every key the Store
says which is missing and is not Ready; then the one service it is for, and only
it, reads the keys; a new key in the Secret rolls that service's pods, and only
them. One walk, for every row of the operator's SpecIntegration table."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from storeharness import Stores, eventually

from storefleet.operator import notifications, payments
from storefleet.operator.desired import SPEC_INTEGRATIONS
from storefleet.operator.spec_integrations import SpecIntegration

ROLL_MARK = "storefleet.io/config-checksum"


@dataclass(frozen=True)
class Case:
    row: SpecIntegration
    spec: dict[str, Any]
    secret: str
    # The keys the Secret needs; the last is still missing after the first try.
    keys: tuple[str, ...]
    # What the condition says once the integration is usable (each value a part of
    # the field: a service's other, unset rows add their own messages).
    ready: dict[str, str]


CASES = [
    Case(
        notifications.SMTP,
        {
            "notifications": {
                "smtp": {
                    "host": "mail.example.com",
                    "from": "shop@example.com",
                    "credentialsSecretRef": {"name": "shop-smtp"},
                }
            }
        },
        "shop-smtp",
        ("username", "password"),
        {"message": "e-mail goes through mail.example.com:587"},
    ),
    Case(
        payments.GATEWAY,
        {"payments": {"gateway": "stripe", "secretRef": {"name": "shop-stripe"}}},
        "shop-stripe",
        ("api-key", "webhook-secret"),
        {"reason": "Stripe"},
    ),
    Case(
        notifications.SMS,
        {
            "notifications": {
                "sms": {
                    "url": "https://sms.example.com/hooks/storefleet",
                    "secretRef": {"name": "shop-sms"},
                }
            }
        },
        "shop-sms",
        ("signing-secret",),
        {
            "reason": "SmsWebhook",
            "message": "text messages go to the webhook at https://sms.example.com/hooks/storefleet",
        },
    ),
    Case(
        notifications.PUSH,
        {
            "notifications": {
                "push": {
                    "url": "https://push.example.com/send",
                    "secretRef": {"name": "shop-push", "signingSecretKey": "hmac"},
                }
            }
        },
        "shop-push",
        ("hmac",),
        {"reason": "PushWebhook"},
    ),
]


def test_every_spec_integration_is_walked_here() -> None:
    assert sorted(case.row.where for case in CASES) == sorted(
        row.where for row in SPEC_INTEGRATIONS
    )


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.row.where)
def test_the_secret_is_checked_and_only_its_service_reads_it(
    case: Case, stores: Stores, kube_api: ApiClient
) -> None:
    name = stores.create(**case.spec)
    namespace = f"store-{name}"
    condition_type = str(case.row.condition_type)
    service = case.row.service
    core = client.CoreV1Api(kube_api)
    apps = client.AppsV1Api(kube_api)

    def condition() -> dict[str, str]:
        return stores.conditions(name).get(condition_type) or {}

    def reconcile(request: str) -> None:
        stores.patch(
            name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": request}}}
        )

    def until(test: Callable[[dict[str, str]], bool], what: str) -> dict[str, str]:
        return eventually(lambda: test(found := condition()) and found, what)

    missing = until(lambda c: c.get("reason") == "SecretMissing", "the missing Secret named")
    assert missing["status"] == "False"
    assert case.secret in missing["message"]
    assert "create it with the keys " + " and ".join(case.keys) in missing["message"]
    # A store that cannot use what it asked for is not Ready.
    assert stores.conditions(name)["Ready"]["status"] == "False"

    *first, last = case.keys
    secret = {
        "metadata": {"name": case.secret},
        "data": {key: encoded(f"generated {key}") for key in first},
    }
    core.create_namespaced_secret(namespace, secret)
    reconcile("1")
    no_key = until(lambda c: c.get("reason") == "SecretKeyMissing", "the missing key named")
    assert f"no key {last}" in no_key["message"]

    secret["data"][last] = encoded("generated too")
    core.replace_namespaced_secret(case.secret, namespace, secret)
    reconcile("2")
    ready = until(lambda c: c.get("status") == "True", f"{condition_type} to be True")
    assert {key: value for key, value in case.ready.items() if value in ready[key]} == case.ready

    readers = {
        d.metadata.name
        for d in apps.list_namespaced_deployment(namespace).items
        for e in d.spec.template.spec.containers[0].env or []
        if e.value_from
        and e.value_from.secret_key_ref
        and e.value_from.secret_key_ref.name == case.secret
    }
    assert readers == {service}

    def roll_marks() -> dict[str, str]:
        return {
            d.metadata.name: (d.spec.template.metadata.annotations or {}).get(ROLL_MARK, "")
            for d in apps.list_namespaced_deployment(namespace).items
        }

    before = roll_marks()
    assert before[service]
    assert {mark for other, mark in before.items() if other != service} == {""}
    secret["data"][last] = encoded("rotated by the platform team")
    core.replace_namespaced_secret(case.secret, namespace, secret)
    reconcile("3")
    after = eventually(
        lambda: (marks := roll_marks())[service] != before[service] and marks,
        f"the {service} pods to roll onto the new key",
    )
    assert {s: m for s, m in after.items() if s != service} == {
        s: m for s, m in before.items() if s != service
    }


def test_a_store_without_a_gateway_says_no_real_money_moves(stores: Stores) -> None:
    name = stores.create()
    condition = eventually(
        lambda: stores.conditions(name).get("PaymentsReady"), "a PaymentsReady condition"
    )
    assert condition["status"] == "Unknown"
    assert condition["reason"] == "NotConfigured"
    assert "no real money moves" in condition["message"]
