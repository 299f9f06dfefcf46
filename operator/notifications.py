"""Where a Store's e-mail goes: ``spec.notifications.smtp`` as the notifications
service's settings, and the condition that says whether it can send.

The server's address and the sender are plain settings of the notifications
Deployment. The user name and password stay in the platform team's Secret and
reach the notifications pods only, as ``secretKeyRef`` environment: no other
service of the store sees them. A Secret or key that is missing is a False
``NotificationsReady`` condition naming it; the pods wait for it (the kubelet
starts them once it exists) instead of sending without credentials. A pod
reads its environment once, so a digest of the keys it reads is an annotation
of the notifications pods: a changed password rolls them on the next pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from storefleet.operator.kinds import kind_of
from storefleet.operator.kube import Kube
from storefleet.operator.status import Condition
from storefleet.operator.vocabulary import ConditionType, Reason

SERVICE: Final = "notifications"
CONDITION: Final = ConditionType.NOTIFICATIONS
# spec.notifications.smtp field -> (the runtime's setting, its default when the
# API server has not filled it in, as in an offline render).
SETTINGS: Final[Mapping[str, tuple[str, str | None]]] = {
    "host": ("STOREFLEET_NOTIFICATIONS_SMTP_HOST", None),
    "port": ("STOREFLEET_NOTIFICATIONS_SMTP_PORT", "587"),
    "security": ("STOREFLEET_NOTIFICATIONS_SMTP_SECURITY", "starttls"),
    "from": ("STOREFLEET_NOTIFICATIONS_MAIL_FROM", None),
}
# credentialsSecretRef key field -> (the runtime's setting, the key's default name).
CREDENTIALS: Final[Mapping[str, tuple[str, str]]] = {
    "usernameKey": ("STOREFLEET_NOTIFICATIONS_SMTP_USERNAME", "username"),
    "passwordKey": ("STOREFLEET_NOTIFICATIONS_SMTP_PASSWORD", "password"),
}
SECRET = kind_of("v1", "Secret")


def smtp_of(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found: Mapping[str, Any] | None = (spec.get("notifications") or {}).get("smtp")
    return found


def environment(spec: Mapping[str, Any]) -> dict[str, str]:
    """The notifications service's plain settings for the Store's SMTP server."""
    smtp = smtp_of(spec)
    if smtp is None:
        return {}
    env = {}
    for field, (name, default) in SETTINGS.items():
        value = smtp.get(field, default)
        if value is not None:
            env[name] = str(value)
    return env


def secret_environment(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """``{name, secret, key}`` per credential the notifications pods read from the Secret."""
    ref = (smtp_of(spec) or {}).get("credentialsSecretRef")
    if ref is None:
        return []
    return [
        {"name": name, "secret": ref["name"], "key": ref.get(field, default)}
        for field, (name, default) in CREDENTIALS.items()
    ]


async def secret_checksum(kube: Kube, namespace: str, spec: Mapping[str, Any]) -> str:
    """A short digest of the credentials the notifications pods read ("" without any)."""
    wanted = secret_environment(spec)
    if not wanted:
        return ""
    secret = await kube.get(SECRET, namespace, wanted[0]["secret"]) or {}
    data = secret.get("data") or {}
    used = {item["key"]: data.get(item["key"], "") for item in wanted}
    return hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()[:16]


async def condition(kube: Kube, namespace: str, spec: Mapping[str, Any]) -> Condition:
    smtp = smtp_of(spec)
    if smtp is None:
        return Condition(
            CONDITION,
            "Unknown",
            Reason.NOT_CONFIGURED,
            "spec.notifications.smtp is not set: e-mail is kept as files in the "
            "notifications pod and reaches no one",
        )
    server = f"{smtp['host']}:{smtp.get('port', SETTINGS['port'][1])}"
    wanted = secret_environment(spec)
    if wanted:
        secret_name = wanted[0]["secret"]
        secret = await kube.get(SECRET, namespace, secret_name)
        if secret is None:
            return Condition(
                CONDITION,
                "False",
                Reason.SECRET_MISSING,
                f"Secret {secret_name} (spec.notifications.smtp.credentialsSecretRef) is not "
                f"in namespace {namespace}; create it with the keys "
                + " and ".join(item["key"] for item in wanted),
            )
        keys = set((secret.get("data") or {}) | (secret.get("stringData") or {}))
        missing = [item["key"] for item in wanted if item["key"] not in keys]
        if missing:
            return Condition(
                CONDITION,
                "False",
                Reason.SECRET_KEY_MISSING,
                f"Secret {secret_name} in namespace {namespace} has no key " + " or ".join(missing),
            )
    return Condition(CONDITION, "True", Reason.SMTP, f"e-mail goes through {server}")
