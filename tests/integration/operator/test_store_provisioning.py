"""Stores on shared servers: the operator provisions, isolates, rotates and releases
each tenant's share of PostgreSQL, Redis, Kafka, Vault and Keycloak.

One operator process runs with every server of the dev stack configured, as the
Helm chart would configure it; the runtime's side is checked by reading the
credentials the way a runtime pod does (through Vault, with a ServiceAccount token).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import psycopg
import pytest
import redis
import requests
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from keycloak import KeycloakAdmin, KeycloakOpenID
from kubernetes import client
from kubernetes.client import ApiClient
from kubetokens import service_account_token
from storeharness import (
    GROUP,
    ROOT,
    SESSION,
    SESSION_LABEL,
    VERSION,
    Operator,
    Stores,
    eventually,
    free_port,
    kubectl,
)

from storefleet.dev import stack
from storefleet.dev.components.kafka import KafkaAccess
from storefleet.dev.components.keycloak import KeycloakAccess
from storefleet.dev.components.vault import VaultAccess
from storefleet.operator.provisioners.kafka import STREAMS
from storefleet.operator.provisioners.vault import AUDIENCE
from storefleet.operator.services import service_account
from storefleet.runtime.platform.config.vaultenv import (
    SecretsUnavailableError,
    VaultEnvSettings,
    load_secret_env,
)

ALL_ON = {
    "database": {"enabled": True},
    "cache": {"enabled": True},
    "events": {"enabled": True},
    "secrets": {"enabled": True},
    "identity": {"enabled": True, "otp": "Required"},
}
PROVISIONED = ("DatabaseReady", "CacheReady", "EventsReady", "SecretsReady", "IdentityReady")
SLOW = 180.0
VENDORS_PORT = free_port()


@pytest.fixture(scope="module")
def servers(
    postgres_dsn: str,
    redis_url: str,
    kafka_admin: KafkaAccess,
    vault: VaultAccess,
    vault_kube_auth: str,
    keycloak_admin: KeycloakAccess,
) -> dict[str, str]:
    """The operator's settings naming every shared server."""
    return {
        "STOREFLEET_OPERATOR_POSTGRES_DSN": postgres_dsn,
        "STOREFLEET_OPERATOR_REDIS_URL": redis_url,
        "STOREFLEET_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": kafka_admin.bootstrap_servers,
        "STOREFLEET_OPERATOR_KAFKA_USERNAME": kafka_admin.username,
        "STOREFLEET_OPERATOR_KAFKA_PASSWORD": kafka_admin.password,
        "STOREFLEET_OPERATOR_VAULT_ADDR": vault.url,
        "STOREFLEET_OPERATOR_VAULT_TOKEN": vault.token,
        "STOREFLEET_OPERATOR_VAULT_AUTH_MOUNT": vault_kube_auth,
        "STOREFLEET_OPERATOR_KEYCLOAK_URL": keycloak_admin.url,
        "STOREFLEET_OPERATOR_KEYCLOAK_USERNAME": keycloak_admin.username,
        "STOREFLEET_OPERATOR_KEYCLOAK_PASSWORD": keycloak_admin.password,
        # Retries after a failure double from 5 s; a test waits for no more than this.
        "STOREFLEET_OPERATOR_PROVISION_RETRY_MAX_SECONDS": "10",
        # KWOK runs no pods: a store's vendors service, when a test runs one, is here.
        "STOREFLEET_OPERATOR_VENDOR_API_URL": f"http://127.0.0.1:{VENDORS_PORT}",
    }


@pytest.fixture(scope="module")
def provisioning_operator(
    crds: None, kube_config: str, servers: dict[str, str]
) -> Iterator[Operator]:
    log_dir = ROOT / "test-artifacts" / "operator"
    log_dir.mkdir(parents=True, exist_ok=True)
    running = Operator(kube_config, log_dir, session=f"{SESSION}-prov", env=servers)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def tenants(kube_api: ApiClient, provisioning_operator: Operator) -> Iterator[Stores]:
    made = Stores(kube_api, session=provisioning_operator.session)
    yield made
    made.cleanup()


def runtime_env(vault: VaultAccess, store: str) -> dict[str, str]:
    root = hvac.Client(url=vault.url, token=vault.token)
    response = root.secrets.kv.v2.read_secret_version(
        f"stores/{store}/runtime", raise_on_deleted_version=True
    )
    data: dict[str, str] = response["data"]["data"]
    return data


def as_runtime(
    kube_api: ApiClient, vault: VaultAccess, mount: str, store: str, tmp_path: Path
) -> dict[str, str]:
    """What `storefleet runtime serve` reads at start in a pod of this Store."""
    token = tmp_path / f"{store}-token"
    namespace = f"store-{store}"
    catalog = service_account("catalog")
    token.write_text(service_account_token(kube_api, namespace, catalog, AUDIENCE))
    environ: dict[str, str] = {}
    settings = VaultEnvSettings(
        addr=vault.url,
        role=f"store-{store}-catalog",
        auth_mount=mount,
        secret_path=f"stores/{store}/runtime",
        token_file=token,
    )
    load_secret_env(environ, settings)
    return environ


def ident(store: str) -> str:
    """The tenant's PostgreSQL role and database."""
    return "store_" + store.replace("-", "_")


def libpq(url: str, database: str | None = None) -> str:
    if database is None:
        return url
    return url.rsplit("/", 1)[0] + f"/{database}"


def realm_token(keycloak: KeycloakAccess, realm: str, client_id: str, secret: str) -> int:
    response = requests.post(
        f"{keycloak.url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    return response.status_code


def test_each_store_gets_its_own_share_and_cannot_reach_anothers(
    tenants: Stores,
    kube_api: ApiClient,
    vault: VaultAccess,
    vault_kube_auth: str,
    keycloak_admin: KeycloakAccess,
    redis_url: str,
    tmp_path: Path,
) -> None:
    acme, globex = tenants.create(**ALL_ON), tenants.create(**ALL_ON)
    for name in (acme, globex):
        store = tenants.wait_ready(name, timeout=SLOW)
        conditions = {c["type"]: c for c in store["status"]["conditions"]}
        for condition in PROVISIONED:
            assert conditions[condition]["status"] == "True", conditions[condition]
            assert conditions[condition]["reason"] == "Provisioned", conditions[condition]

    # With Vault, the runtime's settings are in Vault and not in a Kubernetes Secret.
    core = client.CoreV1Api(kube_api)
    secret_names = {s.metadata.name for s in core.list_namespaced_secret(f"store-{acme}").items}
    assert not {name for name in secret_names if name.startswith("runtime-env")}
    assert "store-credentials" not in secret_names
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment("catalog", f"store-{acme}")
    pod = deployment.spec.template.spec
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["STOREFLEET_VAULT_ROLE"] == f"store-{acme}-catalog"
    assert any(v.projected and v.name == "vault-token" for v in pod.volumes)

    # The runtime of acme logs in to Vault with its ServiceAccount and reads its settings.
    mine = as_runtime(kube_api, vault, vault_kube_auth, acme, tmp_path)
    theirs = runtime_env(vault, globex)
    assert mine["STOREFLEET_CACHE_PREFIX"] == f"{acme}:"
    assert mine["STOREFLEET_EVENTS_TOPIC_PREFIX"] == f"store.{acme}."
    # ... and no other role: globex's role refuses acme's ServiceAccount.
    token = tmp_path / "acme-as-globex"
    token.write_text(
        service_account_token(kube_api, f"store-{acme}", service_account("catalog"), AUDIENCE)
    )
    posing = VaultEnvSettings(
        addr=vault.url,
        role=f"store-{globex}-catalog",
        auth_mount=vault_kube_auth,
        secret_path=f"stores/{globex}/runtime",
        token_file=token,
    )
    with pytest.raises(SecretsUnavailableError):
        load_secret_env({}, posing)

    # PostgreSQL: acme's role works in its database and is refused by globex's.
    with psycopg.connect(mine["STOREFLEET_DATABASE_URL"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (ident(acme),)
    globex_db = ident(globex)
    with pytest.raises(psycopg.OperationalError, match=r"permission denied|not permitted"):
        psycopg.connect(libpq(mine["STOREFLEET_DATABASE_URL"], globex_db), connect_timeout=5)

    # Redis: acme's user reaches its prefix only.
    admin = redis.Redis.from_url(redis_url)
    admin.set(f"{globex}:secret", "globex's")
    as_acme = redis.Redis.from_url(mine["STOREFLEET_CACHE_URL"])
    as_acme.set(f"{acme}:cart", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_acme.get(f"{globex}:secret")

    # Keycloak: acme's storefront client secret is worthless in globex's realm.
    secret_name = "STOREFLEET_AUTH_OIDC_CLIENT_SECRET"
    assert realm_token(keycloak_admin, f"store-{globex}", "storefront", mine[secret_name]) in (
        400,
        401,
    )
    assert mine[secret_name] != theirs[secret_name]


def test_delete_removes_or_keeps_the_tenant_data_by_policy(
    tenants: Stores,
    vault: VaultAccess,
    postgres_dsn: str,
    kafka_admin: KafkaAccess,
    keycloak_admin: KeycloakAccess,
) -> None:
    doomed = tenants.create(deletionPolicy="Delete", **ALL_ON)
    kept = tenants.create(deletionPolicy="Retain", **ALL_ON)
    for name in (doomed, kept):
        tenants.wait_ready(name, timeout=SLOW)
    doomed_url = runtime_env(vault, doomed)["STOREFLEET_DATABASE_URL"]
    kept_url = runtime_env(vault, kept)["STOREFLEET_DATABASE_URL"]
    for name in (doomed, kept):
        tenants.delete(name)
    for name in (doomed, kept):
        eventually(lambda n=name: tenants.gone(n), f"Store {name} to be deleted", timeout=SLOW)

    def databases() -> set[str]:
        with psycopg.connect(postgres_dsn) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}

    def topics() -> set[str]:
        import asyncio

        async def listed() -> set[str]:
            admin = AIOKafkaAdminClient(**kafka_admin.aiokafka())
            await admin.start()
            try:
                return set(await admin.list_topics())
            finally:
                await admin.close()

        return asyncio.run(listed())

    realms = {r["realm"] for r in keycloak_admin.admin().get_realms()}
    root = hvac.Client(url=vault.url, token=vault.token)
    # Delete: every system forgot the tenant.
    assert ident(doomed) not in databases()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(doomed_url, connect_timeout=5)
    assert not any(t.startswith(f"store.{doomed}.") for t in topics())
    assert f"store-{doomed}" not in realms
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v2.read_secret_version(
            f"stores/{doomed}/runtime", raise_on_deleted_version=True
        )
    # Retain: all still there, credentials included, and an Event said so.
    assert ident(kept) in databases()
    with psycopg.connect(kept_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert sum(t.startswith(f"store.{kept}.") for t in topics()) == len(STREAMS)
    assert f"store-{kept}" in realms
    assert root.secrets.kv.v2.read_secret_version(
        f"stores/{kept}/runtime", raise_on_deleted_version=True
    )
    reasons = {e["reason"]: e["message"] for e in tenants.events(kept)}
    assert "deletionPolicy is Retain" in reasons["DataRetained"], reasons
    assert ident(kept) in reasons["DataRetained"]
    assert "DataDeleted" in {e["reason"] for e in tenants.events(doomed)}
    release_retained(kept, vault, keycloak_admin, postgres_dsn)


def release_retained(
    store: str, vault: VaultAccess, keycloak: KeycloakAccess, postgres_dsn: str
) -> None:
    """What an administrator does with retained data later: deletes it by hand."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{ident(store)}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{ident(store)}"')
    keycloak.admin().delete_realm(f"store-{store}")
    root = hvac.Client(url=vault.url, token=vault.token)
    # The shared and operator secrets, and each service's own.
    for key in root.secrets.kv.v2.list_secrets(f"stores/{store}")["data"]["keys"]:
        root.secrets.kv.v2.delete_metadata_and_all_versions(f"stores/{store}/{key}")


def test_rotation_replaces_credentials_and_rolls_the_runtime(
    tenants: Stores, kube_api: ApiClient, vault: VaultAccess, kube_config: str
) -> None:
    name = tenants.create(deletionPolicy="Delete", **ALL_ON)
    tenants.wait_ready(name, timeout=SLOW)
    apps = client.AppsV1Api(kube_api)

    def checksum() -> str:
        deployment = apps.read_namespaced_deployment("cart", f"store-{name}")
        value: str = deployment.spec.template.metadata.annotations[
            "storefleet.io/credentials-checksum"
        ]
        return value

    before, old_url = checksum(), runtime_env(vault, name)["STOREFLEET_DATABASE_URL"]
    subprocess.run(
        [str(Path(sys.executable).parent / "storefleet"), "operator", "rotate-credentials", name],
        env={"KUBECONFIG": kube_config, "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=60,
    )
    eventually(
        lambda: tenants.get(name).get("status", {}).get("credentialsRotation"),
        "the rotation to be applied",
        timeout=SLOW,
    )
    new_url = runtime_env(vault, name)["STOREFLEET_DATABASE_URL"]
    assert new_url != old_url
    with psycopg.connect(new_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(old_url, connect_timeout=5)
    # The pod template changed, so the Deployments roll onto the new credentials.
    assert checksum() != before
    # The Event follows the status write that announced the rotation.
    eventually(
        lambda: "CredentialsRotated" in {e["reason"] for e in tenants.events(name)},
        "a CredentialsRotated event",
    )
    tenants.wait_ready(name, timeout=SLOW)


def test_a_failing_system_degrades_the_store_until_it_is_back(
    tenants: Stores, keycloak_admin: KeycloakAccess
) -> None:
    name = tenants.create(
        deletionPolicy="Delete", identity={"enabled": True}, database={"enabled": True}
    )
    tenants.wait_ready(name, timeout=SLOW)
    stack.down(["keycloak"], report=lambda _: None)
    try:
        tenants.patch(
            name,
            {
                "metadata": {
                    "annotations": {"storefleet.io/reconcile-request": secrets.token_hex(4)}
                }
            },
        )

        def degraded() -> dict[str, Any] | None:
            status = tenants.get(name).get("status") or {}
            identity = {c["type"]: c for c in status.get("conditions") or []}.get("IdentityReady")
            if status.get("phase") == "Degraded" and identity and identity["status"] == "False":
                return identity
            return None

        identity = eventually(degraded, "the Store to be Degraded", timeout=SLOW)
        assert identity["reason"] == "KeycloakUnavailable", identity
        assert tenants.get(name)["status"]["phaseReason"] == "KeycloakUnavailable"
        assert tenants.conditions(name)["DatabaseReady"]["status"] == "True"
    finally:
        stack.up(["keycloak"], report=lambda _: None)
    # No one touches the Store: the retries bring it back.
    tenants.wait_ready(name, timeout=SLOW)
    assert tenants.conditions(name)["IdentityReady"]["reason"] == "Provisioned"


def vendor_body(name: str, store: str, session: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "vendor.yaml").read_text())
    body["metadata"] = {
        "name": name,
        "namespace": f"store-{store}",
        "labels": {SESSION_LABEL: session},
    }
    body["spec"]["storeRef"] = store
    body["spec"].update(spec)
    return body


def test_a_vendor_gets_its_portal_users_and_payout_secret(
    tenants: Stores,
    kube_api: ApiClient,
    vault: VaultAccess,
    keycloak_admin: KeycloakAccess,
    provisioning_operator: Operator,
) -> None:
    store = tenants.create(deletionPolicy="Delete", **ALL_ON)
    tenants.wait_ready(store, timeout=SLOW)
    namespace = f"store-{store}"
    core = client.CoreV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    iban = f"DE{secrets.randbelow(10**20):020d}"
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "fjord-payout"}, "stringData": {"iban": iban}}
    )
    users = [
        {"email": f"owner-{secrets.token_hex(3)}@fjord.example.com", "role": "vendor-admin"},
        {"email": f"packer-{secrets.token_hex(3)}@fjord.example.com", "role": "vendor-staff"},
    ]
    body = vendor_body(
        "fjord",
        store,
        provisioning_operator.session,
        users=users,
        payout={"currency": "EUR", "credentialsSecret": "fjord-payout"},
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", body)

    def vendor() -> dict[str, Any]:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "vendors", "fjord"
        )
        return found

    def conditions() -> dict[str, dict[str, Any]]:
        return {c["type"]: c for c in (vendor().get("status") or {}).get("conditions") or []}

    eventually(lambda: conditions().get("UsersReady"), "the Vendor's users", timeout=SLOW)
    found = conditions()
    assert found["UsersReady"]["status"] == "True", found["UsersReady"]
    assert found["PayoutReady"]["reason"] == "InVault", found["PayoutReady"]
    # KWOK runs no pods: the store's runtime cannot be reached, which is reported, not hidden.
    assert found["RuntimeRegistered"]["reason"] == "RuntimeUnavailable"
    status = vendor()["status"]
    assert (status["phase"], status["phaseReason"]) == ("Degraded", "RuntimeUnavailable")
    assert status["users"] == "2/2"
    assert status["portalUrl"] == f"https://{store}.shop.example.com/vendor/"

    # The realm: a group for the vendor, its users in it with their roles.
    admin = KeycloakAdmin(
        server_url=keycloak_admin.url,
        username=keycloak_admin.username,
        password=keycloak_admin.password,
        realm_name=f"store-{store}",
        user_realm_name="master",
    )
    group = admin.get_group_by_path("/vendor-fjord")
    members = {m["email"]: m for m in admin.get_group_members(group["id"])}
    assert set(members) == {u["email"] for u in users}
    for user in users:
        roles = {r["name"] for r in admin.get_realm_roles_of_user(members[user["email"]]["id"])}
        assert user["role"] in roles
    # A portal user's token names the vendor (the claim the runtime scopes by).
    owner = members[users[0]["email"]]
    password = secrets.token_urlsafe(16)
    admin.set_user_password(owner["id"], password, temporary=False)
    # What the invitation's link has the user do: a password, a name, a verified address.
    admin.update_user(
        owner["id"],
        {"requiredActions": [], "emailVerified": True, "firstName": "Ola", "lastName": "Fjord"},
    )
    portal = admin.get_client_id("vendor-portal")
    admin.update_client(portal, {"directAccessGrantsEnabled": True})
    signed_in = KeycloakOpenID(
        server_url=keycloak_admin.url,
        realm_name=f"store-{store}",
        client_id="vendor-portal",
        client_secret_key=admin.get_client_secrets(portal)["value"],
    ).token(users[0]["email"], password)
    claims_part = signed_in["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    assert claims["vendor_id"] == "fjord"
    assert "vendor-admin" in claims["realm_access"]["roles"]

    # The payout credentials, in the store's Vault path only.
    root = hvac.Client(url=vault.url, token=vault.token)
    payout = root.secrets.kv.v2.read_secret_version(
        f"stores/{store}/vendors/fjord/payout", raise_on_deleted_version=True
    )
    assert payout["data"]["data"] == {"iban": iban}

    # A user removed from the spec is disabled, not deleted.
    patch = {"spec": {"users": users[:1]}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", "fjord", patch)
    eventually(
        lambda: not admin.get_user(members[users[1]["email"]]["id"])["enabled"],
        "the removed user to be disabled",
        timeout=SLOW,
    )

    # kubectl shows what an operator of the platform wants to see.
    table = kubectl("get", "vendors", "-n", namespace).stdout
    assert table.split()[:7] == ["NAME", "STORE", "PHASE", "READY", "REASON", "COMMISSION", "USERS"]
    assert "RuntimeUnavailable" in table


def test_a_vendor_outside_its_stores_namespace_is_refused_with_the_reason(
    tenants: Stores, kube_api: ApiClient, provisioning_operator: Operator
) -> None:
    store = tenants.create()
    tenants.wait_ready(store, timeout=SLOW)
    other = tenants.create()
    tenants.wait_ready(other, timeout=SLOW)
    custom = client.CustomObjectsApi(kube_api)
    body = vendor_body("lost", store, provisioning_operator.session)
    body["metadata"]["namespace"] = f"store-{other}"
    custom.create_namespaced_custom_object(GROUP, VERSION, f"store-{other}", "vendors", body)

    def status() -> dict[str, Any]:
        found = custom.get_namespaced_custom_object(
            GROUP, VERSION, f"store-{other}", "vendors", "lost"
        )
        return found.get("status") or {}

    eventually(lambda: status().get("phase"), "the Vendor's status", timeout=SLOW)
    assert status()["phase"] == "Failed"
    ready = {c["type"]: c for c in status()["conditions"]}["Ready"]
    assert f"must live in namespace store-{store}" in ready["message"]


@pytest.fixture
def vendors_service(tmp_path: Path) -> Iterator[Callable[[str, str], None]]:
    """`storefleet runtime serve vendors` on VENDORS_PORT, as the store's pod would run it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(store: str, admin_token: str) -> None:
        env = {
            **os.environ,
            "STOREFLEET_STORE_ID": store,
            "STOREFLEET_DATA_DIR": str(tmp_path),
            "STOREFLEET_VENDORS_ADMIN_TOKEN": admin_token,
            "STOREFLEET_VENDORS_PAYOUTS_ENABLED": "false",
        }
        log = (tmp_path / "vendors.log").open("wb")
        started.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "storefleet"),
                    "runtime",
                    "serve",
                    "vendors",
                    "--port",
                    str(VENDORS_PORT),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

        def serving() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{VENDORS_PORT}/healthz", timeout=2).ok
            except requests.RequestException:
                return False

        eventually(serving, "the vendors service", timeout=60)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def test_a_vendor_is_registered_in_its_stores_runtime_and_offboarded_on_delete(
    tenants: Stores,
    kube_api: ApiClient,
    vault: VaultAccess,
    keycloak_admin: KeycloakAccess,
    provisioning_operator: Operator,
    vendors_service: Callable[[str, str], None],
) -> None:
    store = tenants.create(deletionPolicy="Delete", **ALL_ON)
    tenants.wait_ready(store, timeout=SLOW)
    namespace = f"store-{store}"
    root = hvac.Client(url=vault.url, token=vault.token)
    token = root.secrets.kv.v2.read_secret_version(
        f"stores/{store}/credentials", raise_on_deleted_version=True
    )["data"]["data"]["vendors-admin-token"]
    vendors_service(store, token)
    runtime = f"http://127.0.0.1:{VENDORS_PORT}/admin/vendors/nordic"
    staff = {"Authorization": f"Bearer {token}"}

    custom = client.CustomObjectsApi(kube_api)
    user = {"email": f"owner-{secrets.token_hex(3)}@nordic.example.com", "role": "vendor-admin"}
    body = vendor_body("nordic", store, provisioning_operator.session, users=[user])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", body)

    def phase() -> str:
        found = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", "nordic")
        return str((found.get("status") or {}).get("phase", ""))

    eventually(lambda: phase() == "Ready", "the Vendor to be Ready", timeout=SLOW)
    registered = requests.get(runtime, headers=staff, timeout=10).json()
    assert registered["display_name"] == body["spec"]["displayName"]
    assert registered["commission_percent"] == body["spec"]["commissionPercent"]
    assert registered["status"] == "active"
    # The runtime refuses the operator's call without the store's token.
    assert requests.get(runtime, timeout=10).status_code in (401, 403)

    patch = {"spec": {"commissionPercent": 15}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", "nordic", patch)
    eventually(
        lambda: requests.get(runtime, headers=staff, timeout=10).json()["commission_percent"] == 15,
        "the new commission in the runtime",
        timeout=SLOW,
    )

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", "nordic")

    def deleted() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "vendors", "nordic")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(deleted, "the Vendor to be deleted", timeout=SLOW)
    assert requests.get(runtime, headers=staff, timeout=10).json()["status"] == "offboarded"
    admin = KeycloakAdmin(
        server_url=keycloak_admin.url,
        username=keycloak_admin.username,
        password=keycloak_admin.password,
        realm_name=f"store-{store}",
        user_realm_name="master",
    )
    (account,) = admin.get_users({"email": user["email"], "exact": True})
    assert not account["enabled"]
