"""Integrations a Store names in its own spec (its mail server, its payment
gateway), each served to one runtime service, and the condition that says
whether that service can use it.

A block's plain fields become settings of that service's Deployment. Its
credentials stay in the platform team's Secret (named by a ``secretRef`` in the
block) and reach that service's pods only, as ``secretKeyRef`` environment: no
other service of the store sees them. A Secret or key that is missing is a
False condition naming it; the pods wait for it (the kubelet starts them once
it exists) instead of running without. A pod reads its environment once, so a
digest of the keys it reads is an annotation of that service's pods: a changed
Secret rolls them on the next pass.

One row per block (``notifications.SMTP``, ``.SMS``, ``.PUSH``,
``payments.GATEWAY``); the functions here serve every row. A service may have
several rows (the notifications service has one per channel): its pods get
all their settings, and its condition combines theirs (False if any is, True if
any is usable, each row's message kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from storefleet.operator.egress import Destination
from storefleet.operator.kinds import kind_of
from storefleet.operator.kube import Kube
from storefleet.operator.status import Condition
from storefleet.operator.vocabulary import ConditionType, Reason

SECRET = kind_of("v1", "Secret")


@dataclass(frozen=True)
class SpecIntegration:
    service: str
    condition_type: ConditionType
    # Where the block sits in spec, e.g. ("notifications", "smtp").
    path: tuple[str, ...]
    # block field -> (the service's setting, its default when the API server has
    # not filled it in, as in an offline render).
    settings: Mapping[str, tuple[str, str | None]]
    # The block's field naming the Secret, and per key field -> (the service's
    # setting, the key's default name).
    secret_ref: str
    credentials: Mapping[str, tuple[str, str]]
    # The condition without the block (Unknown, NotConfigured), and once usable.
    unset_message: str
    ready: Callable[[Mapping[str, Any]], tuple[Reason, str]]
    # Whether a block needs its Secret at all (a sandbox gateway does not).
    needs_secret: Callable[[Mapping[str, Any]], bool] = lambda block: True
    # The servers the service connects to for it, ``(host, port)``: its egress.
    servers: Callable[[Mapping[str, Any]], list[tuple[str, int]]] = lambda block: []

    @property
    def where(self) -> str:
        return "spec." + ".".join(self.path)

    def block(self, spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
        found: Any = spec
        for part in self.path:
            found = (found or {}).get(part)
        return found or None

    def environment(self, spec: Mapping[str, Any]) -> dict[str, str]:
        """The service's plain settings from the block."""
        block = self.block(spec)
        if block is None:
            return {}
        env = {}
        for field, (name, default) in self.settings.items():
            value = block.get(field, default)
            if value is not None:
                env[name] = str(value)
        return env

    def egress(self, spec: Mapping[str, Any]) -> list[Destination]:
        """Where the service's pods connect for the block (nothing without it)."""
        block = self.block(spec)
        if block is None:
            return []
        return [
            Destination(host, port, self.where, self.service) for host, port in self.servers(block)
        ]

    def secret_environment(self, spec: Mapping[str, Any]) -> list[dict[str, str]]:
        """``{name, secret, key}`` per credential the service's pods read from the Secret."""
        block = self.block(spec) or {}
        ref = block.get(self.secret_ref)
        if ref is None or not self.needs_secret(block):
            return []
        return [
            {"name": name, "secret": ref["name"], "key": ref.get(field, default)}
            for field, (name, default) in self.credentials.items()
        ]

    async def secret_checksum(self, kube: Kube, namespace: str, spec: Mapping[str, Any]) -> str:
        """A short digest of the credentials the service's pods read ("" without any)."""
        wanted = self.secret_environment(spec)
        if not wanted:
            return ""
        secret = await kube.get(SECRET, namespace, wanted[0]["secret"]) or {}
        data = secret.get("data") or {}
        used = {item["key"]: data.get(item["key"], "") for item in wanted}
        return hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()[:16]

    async def condition(self, kube: Kube, namespace: str, spec: Mapping[str, Any]) -> Condition:
        block = self.block(spec)
        if block is None:
            return Condition(
                self.condition_type, "Unknown", Reason.NOT_CONFIGURED, self.unset_message
            )
        wanted = self.secret_environment(spec)
        if wanted:
            secret_name = wanted[0]["secret"]
            secret = await kube.get(SECRET, namespace, secret_name)
            if secret is None:
                return Condition(
                    self.condition_type,
                    "False",
                    Reason.SECRET_MISSING,
                    f"Secret {secret_name} ({self.where}.{self.secret_ref}) is not in "
                    f"namespace {namespace}; create it with the keys "
                    + " and ".join(item["key"] for item in wanted),
                )
            keys = set((secret.get("data") or {}) | (secret.get("stringData") or {}))
            missing = [item["key"] for item in wanted if item["key"] not in keys]
            if missing:
                return Condition(
                    self.condition_type,
                    "False",
                    Reason.SECRET_KEY_MISSING,
                    f"Secret {secret_name} in namespace {namespace} has no key "
                    + " or ".join(missing),
                )
        reason, message = self.ready(block)
        return Condition(self.condition_type, "True", reason, message)


def of_service(rows: Iterable[SpecIntegration], service: str) -> list[SpecIntegration]:
    return [row for row in rows if row.service == service]


async def service_checksum(
    rows: Sequence[SpecIntegration], kube: Kube, namespace: str, spec: Mapping[str, Any]
) -> str:
    """One digest of every credential a service's pods read ("" without any)."""
    digests = [await row.secret_checksum(kube, namespace, spec) for row in rows]
    present = [digest for digest in digests if digest]
    if len(present) <= 1:
        # One block's own digest, as a service with one row has always had.
        return present[0] if present else ""
    return hashlib.sha256("/".join(digests).encode()).hexdigest()[:16]


async def conditions(
    rows: Iterable[SpecIntegration], kube: Kube, namespace: str, spec: Mapping[str, Any]
) -> list[Condition]:
    """One condition per type, combining the rows that share it."""
    found: dict[ConditionType, list[Condition]] = {}
    for row in rows:
        found.setdefault(row.condition_type, []).append(await row.condition(kube, namespace, spec))
    return [combine(parts) for parts in found.values()]


def combine(parts: Sequence[Condition]) -> Condition:
    """False if any part is (its reason, the failing messages); True if any part is
    usable (the first usable one's reason); else the first part, unset."""
    failing = [c for c in parts if c.status == "False"]
    usable = [c for c in parts if c.status == "True"]
    if len(parts) == 1:
        return parts[0]
    if failing:
        first = failing[0]
        return Condition(first.type, "False", first.reason, "; ".join(c.message for c in failing))
    if usable:
        first = usable[0]
        return Condition(first.type, "True", first.reason, "; ".join(c.message for c in parts))
    return parts[0]
