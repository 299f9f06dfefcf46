"""Session fixtures that start the dev stack's real servers on demand.

A test asks for what it needs (`kube_config`, `kube_api`, `postgres_dsn`,
`redis_url`); the first such request in a run starts that component (building
it once into ~/.cache/storefleet if needed) and later ones reuse it. A unit-test
run asks for none and so starts nothing. Servers this run started are stopped
at its end; servers that were already up (`make stack-up`) are left running.

Under CI (CI=true) a component that cannot start fails the tests that need it;
elsewhere those tests are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from kubernetes import client, config
from kubernetes.client import ApiClient
from kubetokens import service_account_token
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from storefleet.dev import images, stack
from storefleet.dev.components.ingress import Ingress
from storefleet.dev.components.kafka import Kafka, KafkaAccess
from storefleet.dev.components.keycloak import Keycloak, KeycloakAccess
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.netpol import NetworkPolicies
from storefleet.dev.components.node import Node
from storefleet.dev.components.postgres import Postgres
from storefleet.dev.components.redis import Redis
from storefleet.dev.components.relay import Relay
from storefleet.dev.components.smtp import Smtp
from storefleet.dev.components.vault import Vault, VaultAccess

# fixture -> the marker its tests get, so `-m "not kubernetes"` deselects them
FIXTURE_MARKERS = {
    "kube_config": "kubernetes",
    "kube_api": "kubernetes",
    "postgres_dsn": "postgres",
    "redis_url": "redis",
    "kafka_bootstrap": "kafka",
    "kafka_admin": "kafka",
    "keycloak_admin": "keycloak",
    "platform_crds": "platform_crds",
    "vault": "vault",
    "real_node": "node",
    "node_relay": "node",
    "node_netpol": "node",
    "node_ingress": "node",
    "smtp_sink": "smtp",
}

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))


class DevStack:
    """Starts components at most once per run and remembers what it started."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.failures: dict[str, str] = {}

    def require(self, *names: str) -> None:
        for name in names:
            if name in self.failures:
                self._unavailable(name, self.failures[name])
            try:
                self.started += stack.up([name], report=lambda _: None)
            except Exception as exc:
                self.failures[name] = f"{type(exc).__name__}: {exc}"
                self._unavailable(name, self.failures[name])

    @staticmethod
    def _unavailable(name: str, reason: str) -> None:
        message = f"dev stack component {name!r} could not start: {reason}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def stop_started(self) -> None:
        if self.started and not os.environ.get("STOREFLEET_KEEP_STACK"):
            stack.down(self.started, report=lambda _: None)


@pytest.fixture(scope="session")
def dev_stack() -> Iterator[DevStack]:
    manager = DevStack()
    yield manager
    manager.stop_started()


@pytest.fixture(scope="session")
def kube_config(dev_stack: DevStack) -> str:
    """Path of an admin kubeconfig for the local control plane with KWOK nodes."""
    dev_stack.require("kubernetes", "kwok")
    path = str(Kubernetes().kubeconfig)
    os.environ["KUBECONFIG"] = path
    return path


@pytest.fixture(scope="session")
def real_node(dev_stack: DevStack, kube_config: str) -> Node:
    """The dev stack's real node, with the images of images/*/Dockerfile in its containerd.

    The images are built (or found in the cache) before the node is asked for:
    pods scheduled there find every image they name.
    """
    dev_stack.require("node")
    node = Node()
    try:
        for archive in images.build_all(("runtime", "postgres", "redis"), report=lambda _: None):
            node.load(archive)
    except Exception as exc:
        dev_stack.failures["images"] = f"{type(exc).__name__}: {exc}"
        DevStack._unavailable("images", dev_stack.failures["images"])
    return node


@pytest.fixture(scope="session")
def node_relay(dev_stack: DevStack, real_node: Node) -> Relay:
    """The stack's servers (API server, PostgreSQL, Redis, Vault, Keycloak) on the
    real node's bridge address, where its pods reach them."""
    dev_stack.require("relay")
    return Relay()


@pytest.fixture(scope="session")
def node_netpol(dev_stack: DevStack, real_node: Node) -> NetworkPolicies:
    """kube-router's firewall on the real node: its pods' NetworkPolicies are enforced."""
    dev_stack.require("netpol")
    return NetworkPolicies()


@pytest.fixture(scope="session")
def smtp_sink(dev_stack: DevStack) -> Smtp:
    """The dev stack's SMTP sink: what it receives lands in a Maildir, nothing goes on."""
    dev_stack.require("smtp")
    return Smtp()


@pytest.fixture(scope="session")
def node_ingress(dev_stack: DevStack, real_node: Node) -> Ingress:
    """The real node's Ingress controller (class ``haproxy``), HTTP on loopback."""
    dev_stack.require("ingress")
    return Ingress()


@pytest.fixture(scope="session")
def kube_api(kube_config: str) -> Iterator[ApiClient]:
    """A `kubernetes.client.ApiClient` for the local control plane."""
    client = config.new_client_from_config(config_file=kube_config)
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_dsn(dev_stack: DevStack) -> str:
    """A superuser DSN (libpq form) of the dev stack's PostgreSQL."""
    dev_stack.require("postgres")
    return Postgres().dsn()


@pytest.fixture(scope="session")
def redis_url(dev_stack: DevStack) -> str:
    """A URL (with the default user's password) of the dev stack's Redis."""
    dev_stack.require("redis")
    return Redis().url()


@pytest.fixture(scope="session")
def kafka_bootstrap(dev_stack: DevStack) -> str:
    """`host:port` of the dev stack's Kafka broker (KRaft, SASL_PLAINTEXT on loopback).
    Every client must authenticate: see `kafka_admin`."""
    dev_stack.require("kafka")
    return Kafka().bootstrap_servers


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> KafkaAccess:
    """The broker's super user (SCRAM-SHA-512), whose password the stack generated."""
    return Kafka().access()


@pytest.fixture(scope="session")
def keycloak_admin(dev_stack: DevStack) -> KeycloakAccess:
    """Keycloak's URL and its bootstrap admin (`.admin()` gives a python-keycloak client)."""
    dev_stack.require("keycloak")
    return Keycloak().access()


@pytest.fixture(scope="session")
def platform_crds(dev_stack: DevStack, kube_api: ApiClient) -> ApiClient:
    """`kube_api`, once Istio's and Argo CD's CRDs are established in the control plane."""
    dev_stack.require("platform-crds")
    return kube_api


@pytest.fixture(scope="session")
def vault(dev_stack: DevStack) -> VaultAccess:
    """The dev stack's Vault (dev mode): its URL and root token."""
    dev_stack.require("vault")
    return Vault().access()


@pytest.fixture(scope="session")
def vault_kube_auth(vault: VaultAccess, kube_api: ApiClient) -> Iterator[str]:
    """A Kubernetes auth method in Vault, configured against the local control plane;
    yields its mount path."""
    core = client.CoreV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    namespace = f"vault-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": namespace}})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reviewer", "namespace": namespace}],
        }
    )
    root = hvac.Client(url=vault.url, token=vault.token)
    mount = f"kubernetes-{secrets.token_hex(4)}"
    root.sys.enable_auth_method("kubernetes", path=mount)
    root.auth.kubernetes.configure(
        kubernetes_host=kube_api.configuration.host,
        kubernetes_ca_cert=Path(kube_api.configuration.ssl_ca_cert).read_text(),
        # Vault presents this token to the API server's TokenReview: it must be the API
        # server's own audience.
        token_reviewer_jwt=service_account_token(kube_api, namespace, "reviewer"),
        disable_local_ca_jwt=True,
        mount_point=mount,
    )
    yield mount
    root.sys.disable_auth_method(mount)
    rbac.delete_cluster_role_binding(namespace)
    core.delete_namespace(namespace)


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends, kept in memory (the process's provider, once)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()
