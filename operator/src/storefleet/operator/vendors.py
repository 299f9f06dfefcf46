"""The reconcile of a Vendor: a seller registered in its store's runtime, its portal
users in the store's realm, its payout credentials in the store's Vault path.

Like the Store's, it is level-triggered and idempotent: every pass PUTs the
vendor to the runtime's admin API, converges the realm's group and users, and
copies the payout Secret. Each part has a condition; the phase follows from them
(data in :data:`PHASE_OF`), and a failing system makes the Vendor Degraded and is
retried with backoff by the handler.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from keycloak.exceptions import KeycloakError

from storefleet.operator import credentials, desired, events
from storefleet.operator.context import StoreContext
from storefleet.operator.kinds import VENDOR, kind_of
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.keycloak_vendors import VendorRealm, group_name
from storefleet.operator.provisioning import TenantProvisioning
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.status import Condition, merge_conditions
from storefleet.operator.vocabulary import (
    EventReason,
    Reason,
    VendorConditionType,
    VendorPhase,
)

log = logging.getLogger("storefleet.operator.vendors")

CONDITIONS: Final = (
    VendorConditionType.STORE_FOUND,
    VendorConditionType.RUNTIME_REGISTERED,
    VendorConditionType.USERS_READY,
    VendorConditionType.PAYOUT_READY,
)
# Reasons that mean "a system did not answer": Degraded and retried, not Failed.
UNAVAILABLE: Final = frozenset(
    {
        Reason.RUNTIME_UNAVAILABLE,
        Reason.KEYCLOAK_UNAVAILABLE,
        Reason.VAULT_UNAVAILABLE,
        Reason.STORE_NOT_READY,
    }
)


@dataclass
class VendorOutcome:
    status: dict[str, Any]
    # Retry with backoff (a system failed or the store is not there yet).
    retry: bool = False
    reason: str = ""
    conditions: list[Condition] = field(default_factory=list)


def _decode(secret: Mapping[str, Any] | None) -> dict[str, str]:
    data = (secret or {}).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def runtime_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime's vendor, from the Vendor's spec (its admin API's field names)."""
    payout = spec.get("payout") or {}
    return {
        "display_name": spec["displayName"],
        "contact_email": spec["contactEmail"],
        "commission_percent": spec.get("commissionPercent", 10),
        "payout": {
            "currency": payout.get("currency", "USD"),
            "schedule": payout.get("schedule", "Weekly"),
            "minimum_amount": payout.get("minimumAmount", 0),
        },
        "product_limit": spec.get("productLimit"),
        "suspended": bool(spec.get("suspended", False)),
    }


def phase_of(conditions: list[Condition], suspended: bool) -> tuple[VendorPhase, str]:
    failing = [c for c in conditions if c.status != "True"]
    if not failing:
        if suspended:
            return VendorPhase.SUSPENDED, Reason.SUSPENDED
        return VendorPhase.READY, Reason.ALL_READY
    first = failing[0]
    if first.reason in (Reason.WRONG_NAMESPACE,):
        return VendorPhase.FAILED, first.reason
    if first.reason in (Reason.STORE_NOT_FOUND,):
        return VendorPhase.PENDING, first.reason
    return VendorPhase.DEGRADED, first.reason


class VendorReconciler:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        provisioning: TenantProvisioning,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.provisioning = provisioning
        self.http = http or httpx.AsyncClient(timeout=settings.request_timeout_seconds)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, vendor: Mapping[str, Any]) -> asyncio.Lock:
        meta = vendor["metadata"]
        return self._locks.setdefault((meta["namespace"], meta["name"]), asyncio.Lock())

    def api_url(self, store: str, namespace: str) -> str:
        return self.settings.vendor_api_url.format(store=store, namespace=namespace).rstrip("/")

    async def reconcile(self, vendor: Mapping[str, Any]) -> VendorOutcome:
        async with self._lock(vendor):
            outcome = await self._reconcile(vendor)
            await self._write_status(vendor, outcome)
            return outcome

    async def _reconcile(self, vendor: Mapping[str, Any]) -> VendorOutcome:
        meta, spec = vendor["metadata"], vendor["spec"]
        name, namespace, store_name = meta["name"], meta["namespace"], spec["storeRef"]
        expected = desired.store_namespace(store_name, self.settings)
        conditions: list[Condition] = []
        if namespace != expected:
            conditions.append(
                Condition(
                    VendorConditionType.STORE_FOUND,
                    "False",
                    Reason.WRONG_NAMESPACE,
                    f"a Vendor of store {store_name} must live in namespace {expected}; "
                    f"create it there instead of {namespace}",
                )
            )
            return self._outcome(vendor, conditions, None, retry=False)
        store = await self.kube.get_store(store_name)
        if store is None or store["metadata"].get("deletionTimestamp"):
            conditions.append(
                Condition(
                    VendorConditionType.STORE_FOUND,
                    "False",
                    Reason.STORE_NOT_FOUND,
                    f"no Store {store_name}",
                )
            )
            return self._outcome(vendor, conditions, None, retry=True)
        conditions.append(
            Condition(VendorConditionType.STORE_FOUND, "True", Reason.FOUND, f"Store {store_name}")
        )
        context = desired.build(store, desired.ClusterFeatures(), self.settings)
        tenant = Tenant(store=store_name, namespace=namespace)
        conditions.append(await self._register(name, spec, store_name, namespace, context))
        conditions.append(await self._users(name, spec, tenant, context))
        conditions.append(await self._payout(name, spec, tenant, context))
        retry = any(c.status != "True" and c.reason in UNAVAILABLE for c in conditions)
        return self._outcome(vendor, conditions, store, retry=retry)

    async def _register(
        self,
        name: str,
        spec: Mapping[str, Any],
        store: str,
        namespace: str,
        context: StoreContext,
    ) -> Condition:
        try:
            creds = await self.provisioning.read_credentials(context)
        except Exception as exc:  # Vault down: reported, retried
            return Condition(
                VendorConditionType.RUNTIME_REGISTERED,
                "False",
                Reason.VAULT_UNAVAILABLE,
                str(exc)[:500],
            )
        token = creds.get(credentials.admin_token("vendors"))
        if not token:
            return Condition(
                VendorConditionType.RUNTIME_REGISTERED,
                "False",
                Reason.STORE_NOT_READY,
                f"the Store {store} has no admin credentials yet (not reconciled)",
            )
        url = f"{self.api_url(store, namespace)}/admin/vendors/{name}"
        try:
            response = await self.http.put(
                url, json=runtime_body(spec), headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            return Condition(
                VendorConditionType.RUNTIME_REGISTERED,
                "False",
                Reason.RUNTIME_UNAVAILABLE,
                f"{url}: {type(exc).__name__}: {exc}"[:500],
            )
        if response.status_code >= 500:
            return Condition(
                VendorConditionType.RUNTIME_REGISTERED,
                "False",
                Reason.RUNTIME_UNAVAILABLE,
                f"{url}: HTTP {response.status_code}",
            )
        if response.status_code >= 400:
            detail = _problem(response)
            return Condition(
                VendorConditionType.RUNTIME_REGISTERED,
                "False",
                Reason.RUNTIME_REFUSED,
                f"the store's runtime refused the vendor: {detail}",
            )
        return Condition(
            VendorConditionType.RUNTIME_REGISTERED,
            "True",
            Reason.REGISTERED,
            f"vendor {name} in store {store}'s runtime",
        )

    async def _users(
        self, name: str, spec: Mapping[str, Any], tenant: Tenant, context: StoreContext
    ) -> Condition:
        users = list(spec.get("users") or [])
        keycloak = self.provisioning.keycloak(context)
        if keycloak is None:
            return Condition(
                VendorConditionType.USERS_READY,
                "True",
                Reason.BUILT_IN_ACCOUNTS,
                f"the store has no Keycloak realm: the {len(users)} portal user(s) sign up "
                "through the runtime's accounts service",
            )
        try:
            found = await VendorRealm(keycloak).ensure(
                tenant, name, users, enabled=not spec.get("suspended", False)
            )
        except KeycloakError as exc:
            code = getattr(exc, "response_code", None)
            reason = (
                Reason.KEYCLOAK_UNAVAILABLE
                if code is None or code >= 500
                else Reason.KEYCLOAK_REFUSED
            )
            return Condition(VendorConditionType.USERS_READY, "False", reason, str(exc)[:500])
        except OSError as exc:
            return Condition(
                VendorConditionType.USERS_READY,
                "False",
                Reason.KEYCLOAK_UNAVAILABLE,
                str(exc)[:500],
            )
        message = (
            f"{found.present}/{found.wanted} user(s) in group {group_name(name)} "
            f"of realm store-{tenant.store}"
        )
        if found.not_invited:
            message += (
                "; invitation e-mail not sent to "
                + ", ".join(found.not_invited)
                + " (configure the realm's SMTP server)"
            )
        return Condition(VendorConditionType.USERS_READY, "True", Reason.PROVISIONED, message)

    async def _payout(
        self, name: str, spec: Mapping[str, Any], tenant: Tenant, context: StoreContext
    ) -> Condition:
        secret_name = (spec.get("payout") or {}).get("credentialsSecret")
        if not secret_name:
            return Condition(
                VendorConditionType.PAYOUT_READY,
                "True",
                Reason.NO_CREDENTIALS,
                "spec.payout.credentialsSecret is not set",
            )
        secret = await self.kube.get(_SECRET, tenant.namespace, secret_name)
        if secret is None:
            return Condition(
                VendorConditionType.PAYOUT_READY,
                "False",
                Reason.SECRET_NOT_FOUND,
                f"no Secret {secret_name} in {tenant.namespace} (spec.payout.credentialsSecret)",
            )
        vault = self.provisioning.vault(context)
        if vault is None:
            return Condition(
                VendorConditionType.PAYOUT_READY,
                "True",
                Reason.KUBERNETES_SECRET,
                f"payout credentials in Secret {secret_name}",
            )
        try:
            await vault.write_secret(tenant, f"vendors/{name}/payout", _decode(secret))
        except Exception as exc:  # any Vault failure is the condition
            return Condition(
                VendorConditionType.PAYOUT_READY, "False", Reason.VAULT_UNAVAILABLE, str(exc)[:500]
            )
        return Condition(
            VendorConditionType.PAYOUT_READY,
            "True",
            Reason.IN_VAULT,
            f"payout credentials copied to {vault.kv_mount}/stores/{tenant.store}/vendors/"
            f"{name}/payout",
        )

    def _outcome(
        self,
        vendor: Mapping[str, Any],
        conditions: list[Condition],
        store: Mapping[str, Any] | None,
        *,
        retry: bool,
    ) -> VendorOutcome:
        spec = vendor["spec"]
        phase, reason = phase_of(conditions, bool(spec.get("suspended", False)))
        failing = [c for c in conditions if c.status != "True"]
        ready = Condition(
            VendorConditionType.READY,
            "False" if failing else "True",
            reason,
            failing[0].message if failing else "the vendor can sell and sign in to its portal",
        )
        previous = vendor.get("status") or {}
        generation = int(vendor["metadata"].get("generation") or 0)
        status: dict[str, Any] = {
            "phase": phase,
            "phaseReason": reason,
            "observedGeneration": generation,
            "vendorId": vendor["metadata"]["name"],
            "users": _users_column(conditions, spec),
            "conditions": merge_conditions(
                previous.get("conditions") or [], [ready, *conditions], generation
            ),
        }
        url = ((store or {}).get("status") or {}).get("url")
        if url:
            status["portalUrl"] = f"{url.rstrip('/')}/vendor/"
        return VendorOutcome(status, retry=retry, reason=reason, conditions=conditions)

    async def _write_status(self, vendor: Mapping[str, Any], outcome: VendorOutcome) -> None:
        meta = vendor["metadata"]
        previous = vendor.get("status") or {}
        comparable = {k: v for k, v in previous.items() if k in outcome.status}
        if comparable == outcome.status:
            return
        before = {c.get("type"): c.get("status") for c in previous.get("conditions") or []}
        try:
            await self.kube.patch_status(VENDOR, meta["namespace"], meta["name"], outcome.status)
        except KubeError as exc:
            if exc.status == 404:
                return
            raise
        for condition in outcome.conditions:
            if before.get(condition.type) != condition.status and (
                condition.type in before or condition.status != "True"
            ):
                await events.post(
                    self.kube,
                    vendor,
                    "Normal" if condition.status == "True" else "Warning",
                    condition.reason,
                    f"{condition.type} is {condition.status}: {condition.message}",
                )

    async def offboard(self, vendor: Mapping[str, Any]) -> list[str]:
        """Deleted Vendor: hidden in the runtime, users disabled. Returns what failed."""
        async with self._lock(vendor):
            meta, spec = vendor["metadata"], vendor["spec"]
            name, namespace, store_name = meta["name"], meta["namespace"], spec["storeRef"]
            store = await self.kube.get_store(store_name)
            if store is None or namespace != desired.store_namespace(store_name, self.settings):
                return []  # nothing was registered anywhere
            if store["metadata"].get("deletionTimestamp"):
                # The store, its runtime and (by its deletionPolicy) its realm are going.
                return []
            context = desired.build(store, desired.ClusterFeatures(), self.settings)
            tenant = Tenant(store=store_name, namespace=namespace)
            failed: list[str] = []
            done: list[str] = []
            try:
                token = (await self.provisioning.read_credentials(context)).get(
                    credentials.admin_token("vendors")
                )
                if token:
                    url = f"{self.api_url(store_name, namespace)}/admin/vendors/{name}"
                    response = await self.http.delete(
                        url, headers={"Authorization": f"Bearer {token}"}
                    )
                    if response.status_code >= 500:
                        failed.append(f"runtime: HTTP {response.status_code}")
                    else:
                        done.append("products hidden in the runtime, open orders kept")
            except (httpx.HTTPError, OSError) as exc:
                failed.append(f"runtime: {type(exc).__name__}: {exc}")
            except Exception as exc:  # Vault
                failed.append(f"credentials: {exc}")
            keycloak = self.provisioning.keycloak(context)
            if keycloak is not None:
                try:
                    disabled = await VendorRealm(keycloak).disable(tenant, name)
                    done.append(f"{disabled} portal user(s) disabled")
                except (KeycloakError, OSError) as exc:
                    failed.append(f"keycloak: {exc}")
            if failed:
                await events.post(
                    self.kube,
                    vendor,
                    "Warning",
                    EventReason.OFFBOARD_FAILED,
                    "; ".join(failed) + " (retrying)",
                )
            else:
                await events.post(
                    self.kube,
                    vendor,
                    "Normal",
                    EventReason.OFFBOARDED,
                    "; ".join(done) or "nothing to do",
                )
            return failed


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:500]
    return str(body)[:500]


def _users_column(conditions: list[Condition], spec: Mapping[str, Any]) -> str:
    wanted = len(spec.get("users") or [])
    for condition in conditions:
        if (
            condition.type == VendorConditionType.USERS_READY
            and condition.reason == Reason.PROVISIONED
        ):
            present = condition.message.split("/", 1)[0]
            return f"{present}/{wanted}"
    return f"0/{wanted}" if wanted else "0/0"


_SECRET: Final = kind_of("v1", "Secret")
