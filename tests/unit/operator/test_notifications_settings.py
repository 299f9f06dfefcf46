"""spec.notifications.smtp reaches the notifications service alone: its server and
sender as settings, its credentials from the platform team's Secret."""

from __future__ import annotations

from typing import Any

from conftest import edited

from storefleet.operator import desired
from storefleet.operator.render import render
from storefleet.operator.settings import OperatorSettings

SMTP = {
    "host": "mail.example.com",
    "port": 465,
    "security": "tls",
    "from": "shop@acme.example",
    "credentialsSecretRef": {"name": "acme-smtp", "passwordKey": "secret"},
}


def containers(store: dict[str, Any], settings: OperatorSettings) -> dict[str, dict[str, Any]]:
    context = desired.build(store, desired.ClusterFeatures(istio=False), settings)
    objects = render(context, settings.templates_dir)
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]
        for o in objects
        if o["kind"] == "Deployment"
    }


def test_the_notifications_service_gets_the_server_the_sender_and_the_secrets_keys(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(minimal_store, notifications={"smtp": SMTP})
    env = {e["name"]: e for e in containers(store, settings)["notifications"]["env"]}
    assert env["STOREFLEET_NOTIFICATIONS_SMTP_HOST"]["value"] == "mail.example.com"
    assert env["STOREFLEET_NOTIFICATIONS_SMTP_PORT"]["value"] == "465"
    assert env["STOREFLEET_NOTIFICATIONS_SMTP_SECURITY"]["value"] == "tls"
    assert env["STOREFLEET_NOTIFICATIONS_MAIL_FROM"]["value"] == "shop@acme.example"
    refs = {
        name: env[name]["valueFrom"]["secretKeyRef"]
        for name in (
            "STOREFLEET_NOTIFICATIONS_SMTP_USERNAME",
            "STOREFLEET_NOTIFICATIONS_SMTP_PASSWORD",
        )
    }
    assert refs == {
        "STOREFLEET_NOTIFICATIONS_SMTP_USERNAME": {"name": "acme-smtp", "key": "username"},
        "STOREFLEET_NOTIFICATIONS_SMTP_PASSWORD": {"name": "acme-smtp", "key": "secret"},
    }


def test_no_other_service_sees_the_smtp_settings_or_credentials(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(minimal_store, notifications={"smtp": SMTP})
    for name, container in containers(store, settings).items():
        if name == "notifications":
            continue
        names = {e["name"] for e in container.get("env") or []}
        assert not {n for n in names if "SMTP" in n or "MAIL_FROM" in n}, name
        assert all("valueFrom" not in e for e in container.get("env") or []), name


def test_without_smtp_nothing_is_set_and_defaults_fill_an_offline_render(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    plain = containers(minimal_store, settings)["notifications"]
    assert not [e for e in plain.get("env") or [] if "SMTP" in e["name"]]
    bare = edited(minimal_store, notifications={"smtp": {"host": "relay", "from": "a@b.example"}})
    env = {e["name"]: e.get("value") for e in containers(bare, settings)["notifications"]["env"]}
    assert env["STOREFLEET_NOTIFICATIONS_SMTP_PORT"] == "587"
    assert env["STOREFLEET_NOTIFICATIONS_SMTP_SECURITY"] == "starttls"
