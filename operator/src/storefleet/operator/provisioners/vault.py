"""Vault (or OpenBao): the Store's secrets under its own KV path, and for each
runtime service a policy and a Kubernetes-auth role: only that service's
ServiceAccount in the tenant namespace logs in with it, and it reads the store's
shared runtime settings and that service's own secrets, nothing else (not the
other services' credentials, not the operator's copy of them).

hvac is a blocking client; calls run in a worker thread so the operator's event
loop keeps serving other Stores while Vault answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import hvac
import requests
from hvac.exceptions import InvalidPath, VaultError

from storefleet.operator.provisioners.base import DeletionPolicy, Result, Tenant, outcome
from storefleet.operator.services import SERVICE_NAMES, service_account
from storefleet.operator.vocabulary import ConditionType, Reason

CONDITION = ConditionType.SECRETS
# The secret every service reads, and each service's own beside it.
SHARED_SECRET: Final = "runtime"
# What the runtime presents as the audience of its projected token.
AUDIENCE: Final = "vault"
T = TypeVar("T")


def secret_path(tenant: Tenant) -> str:
    return f"stores/{tenant.store}"


def service_secret(service: str) -> str:
    """The name, under the tenant's path, of one service's own secrets."""
    return f"{SHARED_SECRET}-{service}"


def legacy_policy_name(tenant: Tenant) -> str:
    """The one tenant-wide policy and role of earlier versions, removed on ensure."""
    return f"store-{tenant.store}"


def policy_name(tenant: Tenant, service: str) -> str:
    return f"store-{tenant.store}-{service}"


def policy_for(tenant: Tenant, mount: str, service: str) -> str:
    """Read-only on the shared settings and the service's own secrets; the operator,
    not the runtime, writes them."""
    path = secret_path(tenant)
    return "".join(
        f'path "{mount}/data/{path}/{name}" {{\n  capabilities = ["read"]\n}}\n'
        for name in (SHARED_SECRET, service_secret(service))
    )


class VaultProvisioner:
    condition_type = CONDITION

    def __init__(
        self,
        url: str,
        token: str,
        *,
        kv_mount: str = "secret",
        auth_mount: str = "kubernetes",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.kv_mount = kv_mount
        self.auth_mount = auth_mount
        self.timeout = timeout

    def _client(self) -> hvac.Client:
        return hvac.Client(url=self.url, token=self.token, timeout=self.timeout)

    async def _call(self, work: Callable[[hvac.Client], T]) -> T:
        return await asyncio.to_thread(work, self._client())

    async def ensure(
        self,
        tenant: Tenant,
        password: str = "",
        *,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Result:
        """Write each named secret (e.g. {"database": {...}}), and each service's
        policy and role."""
        path = secret_path(tenant)
        secrets = secrets or {}

        def work(client: hvac.Client) -> None:
            for name, values in secrets.items():
                current = _read(client, f"{path}/{name}", self.kv_mount)
                # Only a change makes a new version: reconciles do not pile up history.
                if current != dict(values):
                    client.secrets.kv.v2.create_or_update_secret(
                        f"{path}/{name}", secret=dict(values), mount_point=self.kv_mount
                    )
            for service in SERVICE_NAMES:
                policy = policy_name(tenant, service)
                client.sys.create_or_update_policy(
                    policy, policy_for(tenant, self.kv_mount, service)
                )
                client.auth.kubernetes.create_role(
                    policy,
                    bound_service_account_names=[service_account(service)],
                    bound_service_account_namespaces=[tenant.namespace],
                    policies=[policy],
                    audience=AUDIENCE,
                    ttl="1h",
                    mount_point=self.auth_mount,
                )
            self._remove_legacy(client, tenant)

        try:
            await self._call(work)
        except (VaultError, requests.RequestException) as exc:
            return _unavailable(exc)
        message = (
            f"{len(secrets)} secrets under {self.kv_mount}/{path}; a role per service "
            f"({policy_name(tenant, '<service>')}) for its ServiceAccount in {tenant.namespace}"
        )
        return outcome(
            CONDITION,
            Reason.PROVISIONED,
            message,
            {
                "VAULT_ADDR": self.url,
                "VAULT_AUTH_MOUNT": self.auth_mount,
                "VAULT_SECRET_PATH": f"{self.kv_mount}/{path}",
            },
        )

    def role_name(self, tenant: Tenant, service: str) -> str:
        """The Kubernetes-auth role (and policy) one service of the tenant logs in with."""
        return policy_name(tenant, service)

    def _remove_legacy(self, client: hvac.Client, tenant: Tenant) -> None:
        legacy = legacy_policy_name(tenant)
        with contextlib.suppress(InvalidPath):
            client.auth.kubernetes.delete_role(legacy, self.auth_mount)
        with contextlib.suppress(InvalidPath):
            client.sys.delete_policy(legacy)

    async def read_secret(self, tenant: Tenant, name: str) -> dict[str, str] | None:
        """One of the tenant's secrets, or None; raises when Vault does not answer."""
        path = f"{secret_path(tenant)}/{name}"
        data = await self._call(lambda client: _read(client, path, self.kv_mount))
        return None if data is None else {str(k): str(v) for k, v in data.items()}

    async def write_secret(self, tenant: Tenant, name: str, values: Mapping[str, str]) -> bool:
        """Writes one secret under the tenant's path; False when it was already so."""
        path = f"{secret_path(tenant)}/{name}"

        def work(client: hvac.Client) -> bool:
            if _read(client, path, self.kv_mount) == dict(values):
                return False
            client.secrets.kv.v2.create_or_update_secret(
                path, secret=dict(values), mount_point=self.kv_mount
            )
            return True

        return await self._call(work)

    async def delete_secret(self, tenant: Tenant, name: str) -> None:
        path = f"{secret_path(tenant)}/{name}"

        def work(client: hvac.Client) -> None:
            with contextlib.suppress(InvalidPath):
                client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path, mount_point=self.kv_mount
                )

        await self._call(work)

    @staticmethod
    def unavailable(exc: Exception) -> Result:
        return _unavailable(exc)

    async def describe(self, tenant: Tenant) -> Result:
        def work(client: hvac.Client) -> list[str]:
            missing = []
            for service in SERVICE_NAMES:
                role = policy_name(tenant, service)
                try:
                    client.auth.kubernetes.read_role(role, mount_point=self.auth_mount)
                except InvalidPath:
                    missing.append(role)
            return missing

        try:
            missing = await self._call(work)
        except (VaultError, requests.RequestException) as exc:
            return _unavailable(exc)
        if missing:
            return outcome(CONDITION, Reason.MISSING, f"no role {', '.join(missing)}")
        return outcome(CONDITION, Reason.PROVISIONED, f"a role per service ({len(SERVICE_NAMES)})")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        path = secret_path(tenant)
        if policy == "Retain":
            return outcome(
                CONDITION,
                Reason.RETAINED,
                f"deletionPolicy Retain: secrets under {self.kv_mount}/{path} kept",
            )

        def work(client: hvac.Client) -> int:
            try:
                listed = client.secrets.kv.v2.list_secrets(path, mount_point=self.kv_mount)
                keys: list[str] = listed["data"]["keys"]
            except InvalidPath:
                keys = []
            for key in keys:
                client.secrets.kv.v2.delete_metadata_and_all_versions(
                    f"{path}/{key}", mount_point=self.kv_mount
                )
            for service in SERVICE_NAMES:
                name = policy_name(tenant, service)
                with contextlib.suppress(InvalidPath):
                    client.auth.kubernetes.delete_role(name, self.auth_mount)
                with contextlib.suppress(InvalidPath):
                    client.sys.delete_policy(name)
            self._remove_legacy(client, tenant)
            return len(keys)

        try:
            removed = await self._call(work)
        except (VaultError, requests.RequestException) as exc:
            return _unavailable(exc)
        message = (
            f"{removed} secrets under {self.kv_mount}/{path} and the services' policies "
            "and roles deleted"
        )
        return outcome(CONDITION, Reason.DELETED, message)


def _read(client: hvac.Client, path: str, mount: str) -> dict[str, Any] | None:
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path, mount_point=mount, raise_on_deleted_version=True
        )
    except InvalidPath:
        return None
    data: dict[str, Any] = response["data"]["data"]
    return data


def _unavailable(exc: Exception) -> Result:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return outcome(CONDITION, Reason.VAULT_UNAVAILABLE, detail[:500])
