"""Each Store's secrets live under its own Vault path, readable only by its runtime."""

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
    RUNTIME_SERVICE_ACCOUNT,
    VaultProvisioner,
    secret_path,
)


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


def runtime_login(vault: VaultAccess, kube_api: ApiClient, who: Tenant, mount: str) -> hvac.Client:
    """What a runtime pod does at start: log in with its projected ServiceAccount token."""
    jwt = service_account_token(kube_api, who.namespace, RUNTIME_SERVICE_ACCOUNT, AUDIENCE)
    runtime = hvac.Client(url=vault.url)
    runtime.auth.kubernetes.login(f"store-{who.store}", jwt, mount_point=mount)
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
            who, secrets={"database": {"url": f"postgresql://{who.store}@db/{who.store}"}}
        )
        assert result.ok, result.condition
        assert result.outputs["VAULT_ROLE"] == f"store-{who.store}"

    runtime = runtime_login(vault, kube_api, acme, auth_mount)
    assert read(runtime, f"{secret_path(acme)}/database")["url"].endswith(f"/{acme.store}")
    with pytest.raises(Forbidden):
        read(runtime, f"{secret_path(globex)}/database")
    with pytest.raises(Forbidden):
        runtime.secrets.kv.v2.create_or_update_secret(
            f"{secret_path(acme)}/database", secret={"url": "tampered"}
        )
    for who in (acme, globex):
        await provisioner.delete(who, "Delete")


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
        assert (await provisioner.ensure(who, secrets={"payments": {"key": "k"}})).ok

    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    assert read(runtime_login(vault, kube_api, kept, auth_mount), f"{secret_path(kept)}/payments")

    deleted = await provisioner.delete(gone, "Delete")
    assert deleted.condition.reason == "Deleted"
    assert (await provisioner.describe(gone)).condition.reason == "Missing"
    root = hvac.Client(url=vault.url, token=vault.token)
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(root, f"{secret_path(gone)}/payments")
    await provisioner.delete(kept, "Delete")


async def test_an_unreachable_vault_is_a_condition_not_a_crash() -> None:
    down = VaultProvisioner("http://127.0.0.1:1", "no-token", timeout=2)
    result = await down.ensure(Tenant("acme", "store-acme"), secrets={"a": {"b": "c"}})
    assert result.condition.status == "False"
    assert result.condition.reason == "VaultUnavailable"
