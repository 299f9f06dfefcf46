"""A plain cluster: no shared database or cache configured, so a Store gets its own
PostgreSQL and Redis in its namespace, and the runtime is wired to them."""

from __future__ import annotations

import base64

from kubernetes import client
from kubernetes.client import ApiClient
from storeharness import Stores


def decoded(secret: client.V1Secret) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def test_a_store_without_shared_servers_gets_its_own_database_and_cache(
    stores: Stores, kube_api: ApiClient
) -> None:
    # Naming neither block: a Store always has both.
    name = stores.create()
    store = stores.wait_ready(name, timeout=150)
    namespace = store["status"]["namespace"]
    conditions = stores.conditions(name)
    assert conditions["DatabaseReady"]["reason"] == "InNamespace", conditions["DatabaseReady"]
    assert conditions["CacheReady"]["reason"] == "InNamespace", conditions["CacheReady"]
    # No Kafka: the store's Redis carries its events, across every pod.
    assert conditions["EventsReady"]["reason"] == "RedisStreams", conditions["EventsReady"]

    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    credentials = decoded(core.read_namespaced_secret("store-credentials", namespace))
    env = decoded(core.read_namespaced_secret("runtime-env", namespace))
    password = credentials["database-password"]
    assert len(password) >= 32
    assert env["STOREFLEET_DATABASE_URL"] == (
        f"postgresql://storefleet:{password}@postgres.{namespace}.svc:5432/storefleet"
    )
    assert env["STOREFLEET_CACHE_URL"].startswith(
        f"redis://default:{credentials['cache-password']}@redis.{namespace}.svc:6379"
    )
    # Each service's tokens and the signing key are generated too, each service's
    # in a Secret of its own: no service runs with an empty secret or another's.
    catalog = decoded(core.read_namespaced_secret("runtime-env-catalog", namespace))
    assert catalog["STOREFLEET_CATALOG_ADMIN_TOKEN"] == credentials["catalog-admin-token"]
    accounts = decoded(core.read_namespaced_secret("runtime-env-accounts", namespace))
    assert accounts["STOREFLEET_AUTH_JWT_PRIVATE_KEY"] == credentials["token-key"]
    assert env["STOREFLEET_AUTH_JWT_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----")
    assert not {name for name in env if name.endswith(("_TOKEN", "_TOKENS"))}

    postgres = apps.read_namespaced_stateful_set("postgres", namespace)
    container = postgres.spec.template.spec.containers[0]
    ref = next(e for e in container.env if e.name == "POSTGRES_PASSWORD").value_from
    assert (ref.secret_key_ref.name, ref.secret_key_ref.key) == (
        "store-credentials",
        "database-password",
    )
    # Each on a volume of its own from the cluster's default storage class (on
    # KWOK's nodes too: the dev stack completes the provisioner's helper pods there).
    claims = {
        claim: core.read_namespaced_persistent_volume_claim(claim, namespace)
        for claim in ("data-postgres-0", "data-redis-0")
    }
    assert {c.status.phase for c in claims.values()} == {"Bound"}, claims
    assert len({c.spec.volume_name for c in claims.values()}) == 2
    catalog = apps.read_namespaced_deployment("catalog", namespace)
    sources = catalog.spec.template.spec.containers[0].env_from
    assert any(s.secret_ref and s.secret_ref.name == "runtime-env" for s in sources)

    # The password stays across reconciles: a second pass reads it back, not anew.
    stores.patch(name, {"metadata": {"annotations": {"storefleet.io/reconcile-request": "1"}}})
    stores.wait_ready(name)
    again = decoded(core.read_namespaced_secret("store-credentials", namespace))
    assert again["database-password"] == password
