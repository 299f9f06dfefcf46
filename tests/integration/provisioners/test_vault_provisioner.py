"""Each Store's secrets live under its own Vault path; each of its services logs in
with a role of its own and reads the shared settings and its own secrets only."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import hvac
import pytest
from hvac.exceptions import Forbidden
from kubernetes import client
from kubernetes.client import ApiClient
from kubetokens import service_account_token

from storefleet.dev.components.vault import VaultAccess
from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.vault import (
    AUDIENCE,
    VaultProvisioner,
    secret_path,
)
from storefleet.operator.services import SERVICE_NAMES, service_account


@pytest.fixture(scope="module")
def auth_mount(vault_kube_auth: str) -> str:
    return vault_kube_auth


@pytest.fixture
def tenants(kube_api: ApiClient) -> Iterator[list[Tenant]]:
    """Stores with a tenant namespace each; whatever the test provisioned is deleted."""
    made: list[Tenant] = []
    yield made
    for who in made:
        client.CoreV1Api(kube_api).delete_namespace(who.namespace)


def new_tenant(kube_api: ApiClient, tenants: list[Tenant]) -> Tenant:
    store = f"acme-{secrets.token_hex(3)}"
    who = Tenant(store=store, namespace=f"store-{store}")
    client.CoreV1Api(kube_api).create_namespace({"metadata": {"name": who.namespace}})
    tenants.append(who)
    return who


def runtime_login(
    vault: VaultAccess,
    kube_api: ApiClient,
    who: Tenant,
    mount: str,
    service: str = "catalog",
    *,
    role_of: str | None = None,
) -> hvac.Client:
    """What a service's pod does at start: log in with its projected ServiceAccount
    token, to its role (or, posing, to another service's)."""
    jwt = service_account_token(kube_api, who.namespace, service_account(service), AUDIENCE)
    runtime = hvac.Client(url=vault.url)
    role = f"store-{who.store}-{role_of or service}"
    runtime.auth.kubernetes.login(role, jwt, mount_point=mount)
    return runtime


def read(runtime: hvac.Client, path: str) -> dict[str, str]:
    response = runtime.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    data: dict[str, str] = response["data"]["data"]
    return data


async def test_a_runtime_reads_its_own_secrets_and_not_anothers(
    vault: VaultAccess, kube_api: ApiClient, auth_mount: str, tenants: list[Tenant]
) -> None:
    provisioner = VaultProvisioner(vault.url, vault.token, auth_mount=auth_mount)
    acme, globex = new_tenant(kube_api, tenants), new_tenant(kube_api, tenants)
    for who in (acme, globex):
        result = await provisioner.ensure(
            who, secrets={"runtime": {"url": f"postgresql://{who.store}@db/{who.store}"}}
        )
        assert result.ok, result.condition

    runtime = runtime_login(vault, kube_api, acme, auth_mount)
    assert read(runtime, f"{secret_path(acme)}/runtime")["url"].endswith(f"/{acme.store}")
    with pytest.raises(Forbidden):
        read(runtime, f"{secret_path(globex)}/runtime")
    with pytest.raises(Forbidden):
        runtime.secrets.kv.v2.create_or_update_secret(
            f"{secret_path(acme)}/runtime", secret={"url": "tampered"}
        )
    for who in (acme, globex):
        await provisioner.delete(who, "Delete")


async def test_each_service_reads_its_own_secrets_and_no_other_services(
    vault: VaultAccess, kube_api: ApiClient, auth_mount: str, tenants: list[Tenant]
) -> None:
    provisioner = VaultProvisioner(vault.url, vault.token, auth_mount=auth_mount)
    acme = new_tenant(kube_api, tenants)
    own = {f"runtime-{service}": {"token": f"{service}-secret"} for service in SERVICE_NAMES}
    stored = {"runtime": {"shared": "yes"}, "credentials": {"all": "of them"}, **own}
    assert (await provisioner.ensure(acme, secrets=stored)).ok
    path = secret_path(acme)

    analytics = runtime_login(vault, kube_api, acme, auth_mount, "analytics")
    assert read(analytics, f"{path}/runtime") == {"shared": "yes"}
    assert read(analytics, f"{path}/runtime-analytics") == {"token": "analytics-secret"}
    # Not the payments service's credentials, nor the operator's copy of them all.
    for elsewhere in ("runtime-payments", "runtime-orders", "credentials"):
        with pytest.raises(Forbidden):
            read(analytics, f"{path}/{elsewhere}")
    # Nor may its ServiceAccount log in to the payments service's role.
    with pytest.raises(Forbidden):
        runtime_login(vault, kube_api, acme, auth_mount, "analytics", role_of="payments")
    # Each service's role works for that service alone.
    for service in SERVICE_NAMES:
        mine = runtime_login(vault, kube_api, acme, auth_mount, service)
        assert read(mine, f"{path}/runtime-{service}") == {"token": f"{service}-secret"}
    await provisioner.delete(acme, "Delete")


async def test_ensure_writes_a_new_version_only_when_a_secret_changes(
    vault: VaultAccess, kube_api: ApiClient, auth_mount: str, tenants: list[Tenant]
) -> None:
    provisioner = VaultProvisioner(vault.url, vault.token, auth_mount=auth_mount)
    who = new_tenant(kube_api, tenants)
    for password in ("first", "first", "rotated"):
        assert (await provisioner.ensure(who, secrets={"cache": {"password": password}})).ok
    root = hvac.Client(url=vault.url, token=vault.token)
    meta = root.secrets.kv.v2.read_secret_metadata(f"{secret_path(who)}/cache")
    assert meta["data"]["current_version"] == 2
    assert read(root, f"{secret_path(who)}/cache") == {"password": "rotated"}
    await provisioner.delete(who, "Delete")


async def test_delete_removes_secrets_and_role_and_retain_keeps_them(
    vault: VaultAccess, kube_api: ApiClient, auth_mount: str, tenants: list[Tenant]
) -> None:
    provisioner = VaultProvisioner(vault.url, vault.token, auth_mount=auth_mount)
    kept, gone = new_tenant(kube_api, tenants), new_tenant(kube_api, tenants)
    for who in (kept, gone):
        assert (await provisioner.ensure(who, secrets={"runtime-payments": {"key": "k"}})).ok

    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    payments = runtime_login(vault, kube_api, kept, auth_mount, "payments")
    assert read(payments, f"{secret_path(kept)}/runtime-payments")

    deleted = await provisioner.delete(gone, "Delete")
    assert deleted.condition.reason == "Deleted"
    assert (await provisioner.describe(gone)).condition.reason == "Missing"
    root = hvac.Client(url=vault.url, token=vault.token)
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(root, f"{secret_path(gone)}/runtime-payments")
    await provisioner.delete(kept, "Delete")


async def test_an_unreachable_vault_is_a_condition_not_a_crash() -> None:
    down = VaultProvisioner("http://127.0.0.1:1", "no-token", timeout=2)
    result = await down.ensure(Tenant("acme", "store-acme"), secrets={"a": {"b": "c"}})
    assert result.condition.status == "False"
    assert result.condition.reason == "VaultUnavailable"
