"""Generated credentials and what the templates make of them, without a cluster."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from storefleet.operator import credentials, desired
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioning import TenantProvisioning
from storefleet.operator.render import render
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.status import Condition, Observation, compute


def test_credentials_are_generated_once_and_kept() -> None:
    first = credentials.converge({}, rotate=False)
    assert set(first) == set(credentials.GENERATED)
    assert len(set(first.values())) == len(first)
    assert all(len(value) >= 40 for value in first.values())
    assert credentials.converge(first, rotate=False) == first


def test_rotation_replaces_passwords_but_not_the_signing_key() -> None:
    first = credentials.converge({}, rotate=False)
    rotated = credentials.converge(first, rotate=True)
    for name, (_, rotates) in credentials.GENERATED.items():
        assert (rotated[name] != first[name]) == rotates, name
    assert rotated["signing-key"] == first["signing-key"]


def test_runtime_env_names_match_the_runtime_settings() -> None:
    creds = credentials.converge({}, rotate=False)
    env = credentials.runtime_env(
        creds,
        {
            "DATABASE_URL": "postgresql://a",
            "REDIS_URL": "redis://b",
            "REDIS_KEY_PREFIX": "acme:",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "OIDC_ISSUER": "https://id/realms/store-acme",
        },
    )
    assert env["STOREFLEET_DATABASE_URL"] == "postgresql://a"
    assert env["STOREFLEET_CACHE_URL"] == "redis://b"
    assert env["STOREFLEET_CACHE_PREFIX"] == "acme:"
    assert env["STOREFLEET_EVENTS_BOOTSTRAP_SERVERS"] == "k:9092"
    assert env["STOREFLEET_AUTH_OIDC_ISSUER"].endswith("store-acme")
    # Shared by every service: nothing that lets one act as another.
    assert env["STOREFLEET_AUTH_JWT_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----")
    assert not {name for name in env if name.endswith(("_TOKEN", "_TOKENS", "_SECRET"))}


def test_each_service_holds_its_own_credentials_and_no_other_services() -> None:
    """A compromised pod holds its own service's tokens only: the analytics
    service cannot refund a payment, the cart cannot hold stock, and only the
    accounts service can sign an access token."""
    creds = credentials.converge({}, rotate=False)
    own = credentials.service_env(creds)
    holders: dict[str, set[str]] = {}
    for service, env in own.items():
        for name, value in env.items():
            if name.endswith("_CALLER_TOKENS"):
                for token in json.loads(value).values():
                    holders.setdefault(token, set()).add(service)
            else:
                holders.setdefault(value, set()).add(service)
    for service in credentials.ADMIN_SERVICES:
        assert holders[creds[credentials.admin_token(service)]] == {service}
    for caller, callee in credentials.CALLS:
        assert holders[creds[credentials.call_token(caller, callee)]] == {caller, callee}
        assert (
            own[caller][f"STOREFLEET_{caller.upper()}_{callee.upper()}_TOKEN"]
            == creds[credentials.call_token(caller, callee)]
        )
        assert caller in json.loads(own[callee][f"STOREFLEET_{callee.upper()}_CALLER_TOKENS"])
    for key in ("token-key", "signing-key", "secrets-key"):
        assert holders[creds[key]] == {"accounts"}, key
    assert holders[creds["webhook-secret"]] == {"payments"}
    assert set(own["analytics"]) == {"STOREFLEET_ANALYTICS_ADMIN_TOKEN"}
    assert "storefront" not in own


def _objects(store: dict[str, Any], servers: ProvisionerSettings) -> dict[str, dict[str, Any]]:
    settings = OperatorSettings()
    context = desired.build(store, desired.ClusterFeatures(), settings)
    desired.with_tenancy(context, TenantProvisioning(None, servers).offline(context))
    return {
        f"{o['kind']}/{o['metadata']['name']}": o for o in render(context, settings.templates_dir)
    }


def test_without_shared_servers_a_store_gets_its_own_datastores(
    minimal_store: dict[str, Any],
) -> None:
    minimal_store["spec"].update(database={"enabled": True}, cache={"enabled": True})
    minimal_store["spec"]["plan"] = "standard"
    objects = _objects(minimal_store, ProvisionerSettings())
    postgres = objects["StatefulSet/postgres"]
    claim = postgres["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert "StatefulSet/redis" in objects
    assert "Secret/store-credentials" in objects
    env_from = objects["Deployment/catalog"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "runtime-env"}} in env_from
    # Its own Secret, and no other service's.
    assert {"secretRef": {"name": "runtime-env-catalog"}} in env_from
    for name, deployment in objects.items():
        if not name.startswith("Deployment/"):
            continue
        service = name.removeprefix("Deployment/")
        refs = {
            ref["secretRef"]["name"]
            for ref in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            if "secretRef" in ref
        }
        assert refs <= {"runtime-env", f"runtime-env-{service}"}, name
    analytics = objects["Secret/runtime-env-analytics"]["data"]
    assert set(analytics) == {"STOREFLEET_ANALYTICS_ADMIN_TOKEN"}


def test_with_vault_the_runtime_gets_a_role_and_no_secret(minimal_store: dict[str, Any]) -> None:
    minimal_store["spec"]["secrets"] = {"enabled": True}
    servers = ProvisionerSettings(
        vault_addr="http://vault.vault.svc:8200", vault_token=SecretStr("t")
    )
    objects = _objects(minimal_store, servers)
    assert "Secret/runtime-env" not in objects
    # Only the in-namespace PostgreSQL's and Redis's passwords are in a Secret (a
    # container's environment can come from a Secret, not from Vault).
    kept = objects["Secret/store-credentials"]["data"]
    assert set(kept) == {"database-password", "cache-password"}
    pod = objects["Deployment/catalog"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    # A role of its own, which Vault grants to the catalog's ServiceAccount only.
    assert env["STOREFLEET_VAULT_ROLE"] == f"store-{minimal_store['metadata']['name']}-catalog"
    assert pod["serviceAccountName"] == "runtime-catalog"
    # Its own credentials from a path of its own, beside the store's shared one.
    assert env["STOREFLEET_VAULT_SERVICE_SECRET_PATH"].endswith("/runtime-catalog")
    roles = {
        name: {
            e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
        }["STOREFLEET_VAULT_ROLE"]
        for name, d in objects.items()
        if name.startswith("Deployment/")
    }
    assert len(set(roles.values())) == len(roles), roles
    assert not any(o.startswith("Secret/runtime-env") for o in objects)
    token = next(v for v in pod["volumes"] if v["name"] == "vault-token")
    assert token["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "vault"
    # The egress policy opens Vault's port in Vault's namespace, not a guess.
    assert objects["NetworkPolicy/allow-integrations"]["spec"]["egress"] == [
        {
            "to": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vault"}}}
            ],
            "ports": [{"protocol": "TCP", "port": 8200}],
        }
    ]


def test_a_failing_system_makes_even_a_new_store_degraded() -> None:
    observation = Observation(
        generation=1,
        url="https://x",
        namespace="store-x",
        routing="Ingress",
        suspended=False,
        conditions=[
            Condition("NamespaceReady", "True", "Applied", ""),
            Condition("IdentityReady", "False", "KeycloakUnavailable", "connection refused"),
        ],
        degraded="KeycloakUnavailable",
    )
    status = compute(observation, {})
    assert status["phase"] == "Degraded"
    assert status["phaseReason"] == "KeycloakUnavailable"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


def test_every_variable_the_operator_sets_is_a_runtime_setting() -> None:
    from storefleet.runtime.platform.config.settings_reference import settings_classes

    classes = settings_classes()
    known = {
        (cls.model_config.get("env_prefix") or "") + name.upper()
        for cls in classes
        for name in cls.model_fields
    }
    outputs = {
        "DATABASE_URL": "x",
        "REDIS_URL": "x",
        "REDIS_KEY_PREFIX": "x",
        "KAFKA_BOOTSTRAP_SERVERS": "x",
        "KAFKA_TOPIC_PREFIX": "x",
        "OIDC_ISSUER": "x",
        "OIDC_STOREFRONT_SECRET": "x",
    }
    creds = credentials.converge({}, rotate=False)
    env = set(credentials.runtime_env(creds, outputs))
    for own in credentials.service_env(creds).values():
        env |= set(own)
    assert env <= known, sorted(env - known)


def test_the_secrets_at_rest_key_is_a_fernet_key_and_survives_rotation() -> None:
    from cryptography.fernet import Fernet

    first = credentials.converge({}, rotate=False)
    Fernet(first["secrets-key"].encode())  # raises on a malformed key
    rotated = credentials.converge(first, rotate=True)
    assert rotated["secrets-key"] == first["secrets-key"]
    env = credentials.service_env(first)["accounts"]
    assert env["STOREFLEET_ACCOUNTS_SECRETS_KEY"] == first["secrets-key"]
