"""The local control plane behaves like a cluster: it schedules, validates and collects."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from storefleet.dev.components.kwok import PLACEMENT as KWOK_PLACEMENT

TIMEOUT = 90.0


def eventually(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def namespace(kube_api: ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"test-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_a_deployment_becomes_available_on_kwok_nodes(kube_api: ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube_api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **KWOK_PLACEMENT,
                        "containers": [
                            {
                                "name": "web",
                                "image": "storefleet/runtime:dev",
                                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8000}},
                            }
                        ],
                    },
                },
            },
        },
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        conditions = {c.type: c.status for c in status.conditions or []}
        return status.ready_replicas == 2 and conditions.get("Available") == "True"

    eventually(available, "Deployment web to be Available with 2 ready replicas")
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="app=web")
    assert {pod.status.phase for pod in pods.items} == {"Running"}
    assert all(pod.spec.node_name.startswith("kwok-node-") for pod in pods.items)


def test_kwok_nodes_repel_pods_that_do_not_ask_for_them(kube_api: ApiClient) -> None:
    """Fake nodes are tainted: only workloads placed there explicitly land on them."""
    nodes = client.CoreV1Api(kube_api).list_node(label_selector="type=kwok").items
    assert nodes
    for node in nodes:
        taints = {(t.key, t.effect) for t in node.spec.taints or []}
        assert ("kwok.x-k8s.io/node", "NoSchedule") in taints, node.metadata.name


def test_the_api_server_refuses_an_object_that_breaks_its_crd_schema(kube_api: ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(kube_api)
    group = f"t{secrets.token_hex(3)}.storefleet.test"
    crd_name = f"widgets.{group}"
    extensions.create_custom_resource_definition(
        {
            "metadata": {"name": crd_name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {
                                            "size": {"type": "integer", "minimum": 1},
                                            "min": {"type": "integer"},
                                            "max": {"type": "integer"},
                                        },
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self.min <= self.max",
                                                "message": "min must not exceed max",
                                            }
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    try:
        custom = client.CustomObjectsApi(kube_api)

        def established() -> bool:
            crd = extensions.read_custom_resource_definition(crd_name)
            return any(
                c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
            )

        eventually(established, f"CRD {crd_name} to be Established")

        def create(spec: dict[str, int]) -> Any:
            body = {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": f"w{secrets.token_hex(3)}"},
                "spec": spec,
            }
            return custom.create_namespaced_custom_object(group, "v1", "default", "widgets", body)

        # The discovery cache of a fresh CRD can lag a moment behind Established.
        eventually(lambda: _created(create, {"size": 1, "min": 1, "max": 2}), "a valid Widget")

        with pytest.raises(ApiException) as schema_error:
            create({"size": 0, "min": 1, "max": 2})
        assert schema_error.value.status == 422
        assert "spec.size" in schema_error.value.body
        assert "should be greater than or equal to 1" in schema_error.value.body

        with pytest.raises(ApiException) as cel_error:
            create({"size": 1, "min": 3, "max": 2})
        assert cel_error.value.status == 422
        assert "min must not exceed max" in cel_error.value.body
    finally:
        extensions.delete_custom_resource_definition(crd_name)


def _created(create: Callable[[dict[str, int]], Any], spec: dict[str, int]) -> bool:
    try:
        create(spec)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_a_deleted_namespace_goes_away_with_its_contents(kube_api: ApiClient) -> None:
    """Needs the controller manager: envtest alone leaves namespaces Terminating forever."""
    core = client.CoreV1Api(kube_api)
    name = f"test-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"a": "b"}})
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, f"namespace {name} to be deleted")


def test_pods_get_a_service_account_token(kube_api: ApiClient, namespace: str) -> None:
    """The controller manager makes ServiceAccounts; the API server signs their tokens."""
    core = client.CoreV1Api(kube_api)
    eventually(
        lambda: core.list_namespaced_service_account(namespace).items,
        f"the default ServiceAccount in {namespace}",
    )
    token = core.create_namespaced_service_account_token(
        "default", namespace, {"spec": {"audiences": ["storefleet-test"]}}
    )
    review = client.AuthenticationV1Api(kube_api).create_token_review(
        {"spec": {"token": token.status.token, "audiences": ["storefleet-test"]}}
    )
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"
