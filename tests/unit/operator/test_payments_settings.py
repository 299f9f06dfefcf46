"""spec.payments reaches the payments service alone: the gateway and its address
as settings, its API key and webhook secret from the platform team's Secret."""

from __future__ import annotations

from typing import Any

from conftest import edited
from test_notifications_settings import containers

from storefleet.operator.settings import OperatorSettings

STRIPE = {
    "gateway": "stripe",
    "apiBase": "https://stripe.internal.example",
    "secretRef": {"name": "acme-stripe", "apiKeyKey": "live-key"},
}


def test_the_payments_service_gets_the_gateway_and_the_secrets_keys(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(minimal_store, payments=STRIPE)
    env = {e["name"]: e for e in containers(store, settings)["payments"]["env"]}
    assert env["STOREFLEET_PAYMENTS_GATEWAY"]["value"] == "stripe"
    assert env["STOREFLEET_PAYMENTS_STRIPE_API_BASE"]["value"] == "https://stripe.internal.example"
    refs = {
        name: env[name]["valueFrom"]["secretKeyRef"]
        for name in (
            "STOREFLEET_PAYMENTS_STRIPE_API_KEY",
            "STOREFLEET_PAYMENTS_STRIPE_WEBHOOK_SECRET",
        )
    }
    assert refs == {
        "STOREFLEET_PAYMENTS_STRIPE_API_KEY": {"name": "acme-stripe", "key": "live-key"},
        "STOREFLEET_PAYMENTS_STRIPE_WEBHOOK_SECRET": {
            "name": "acme-stripe",
            "key": "webhook-secret",
        },
    }


def test_no_other_service_sees_the_gateway_or_its_keys(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(minimal_store, payments=STRIPE)
    for name, container in containers(store, settings).items():
        if name == "payments":
            continue
        names = {e["name"] for e in container.get("env") or []}
        assert not {n for n in names if "STRIPE" in n or "GATEWAY" in n}, name
        assert all("valueFrom" not in e for e in container.get("env") or []), name


def test_the_sandbox_reads_no_secret_even_when_one_is_named(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    plain = containers(minimal_store, settings)["payments"]
    assert not [e for e in plain.get("env") or [] if "GATEWAY" in e["name"]]
    sandbox = edited(minimal_store, payments={**STRIPE, "gateway": "sandbox"})
    env = {e["name"]: e for e in containers(sandbox, settings)["payments"]["env"]}
    assert env["STOREFLEET_PAYMENTS_GATEWAY"]["value"] == "sandbox"
    assert all("valueFrom" not in e for e in env.values())
