"""`helm install` of the operator's chart with the operator image built here: both
replicas run on the real node, one active through Kopf peering, and when the
active pod is deleted the standby takes over and the next change to a Store is
still reconciled.

The operator's pods talk to the API server from inside the cluster (the
`kubernetes` Service, their ServiceAccount token), as they would anywhere.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from storeharness import SESSION_LABEL, Stores, eventually

from storefleet.dev import images
from storefleet.dev.components.helm import Helm
from storefleet.dev.components.ingress import INGRESS_CLASS
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.node import Node
from storefleet.dev.network import DNS_IP
from storefleet.dev.nodeconfig import NODE_NAME

CHART = Path(__file__).resolve().parents[2] / "charts" / "storefleet-operator"
SESSION = f"chart-{secrets.token_hex(3)}"
READY_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def release(
    dev_stack: object, real_node: Node, node_relay: object, kube_api: ApiClient
) -> Iterator[tuple[str, str]]:
    """The chart installed with Helm into a namespace of its own, reconciling only
    this module's Stores."""
    dev_stack.require("helm")  # type: ignore[attr-defined]
    operator_image = images.build_all(("operator",), report=lambda _: None)[0]
    real_node.load(operator_image)
    repository, tag = operator_image.reference.rsplit(":", 1)
    name, namespace = "sf", f"storefleet-{SESSION}"
    helm = [Helm().binary, f"--kubeconfig={Kubernetes().kubeconfig}"]
    values = {
        "image.repository": repository,
        "image.tag": tag,
        "image.pullPolicy": "Never",
        "operator.storeSelector": f"{SESSION_LABEL}={SESSION}",
        "operator.urlScheme": "http",
        "operator.ingressClass": INGRESS_CLASS,
        # The node's CoreDNS, which the Stores' enforced NetworkPolicies must admit.
        "operator.dnsCidrs": f"{{{DNS_IP}/32}}",
        "operator.logFormat": "plain",
    }
    installed = subprocess.run(
        [
            *helm, "install", name, str(CHART), "--namespace", namespace, "--create-namespace",
            *[arg for key, value in values.items() for arg in ("--set", f"{key}={value}")],
            "--wait", "--timeout", "5m",
        ],
        capture_output=True, text=True, check=False, timeout=400,
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield name, namespace
    finally:
        subprocess.run(
            [*helm, "uninstall", name, "--namespace", namespace, "--wait"],
            capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        client.CoreV1Api(kube_api).delete_namespace(namespace)


def operator_pods(api: ApiClient, namespace: str) -> dict[str, client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return {pod.metadata.labels["apps.kubernetes.io/pod-index"]: pod for pod in pods}


def logs(namespace: str, pod: str) -> str:
    return Kubernetes().kubectl("logs", "-n", namespace, pod).stdout


# What Kopf logs when a replica starts or stops working (each replica starts paused).
RESUMED = "Resuming operations after the pause"
PAUSED = "Pausing operations in favour of"


def working(namespace: str, pod: str) -> bool:
    """Whether the replica's last peering decision was to work."""
    text = logs(namespace, pod)
    return text.rfind(RESUMED) > text.rfind(PAUSED)


def test_the_chart_runs_two_operator_pods_on_the_real_node_and_one_reconciles(
    release: tuple[str, str], kube_api: ApiClient
) -> None:
    _, namespace = release
    pods = operator_pods(kube_api, namespace)
    assert sorted(pods) == ["0", "1"]
    for pod in pods.values():
        assert pod.spec.node_name == NODE_NAME
        (container,) = pod.status.container_statuses
        assert container.container_id.startswith("containerd://")
        assert container.ready
    # Peering: the higher priority (the higher ordinal) works, the other waits.
    active, standby = pods["1"].metadata.name, pods["0"].metadata.name
    eventually(
        lambda: working(namespace, active) and not working(namespace, standby),
        "one replica to work and the other to stand by",
        timeout=120,
    )

    stores = Stores(kube_api, session=SESSION)
    store = stores.create()
    try:
        stores.wait_ready(store, timeout=READY_TIMEOUT)
        pods_of_store = client.CoreV1Api(kube_api).list_namespaced_pod(f"store-{store}").items
        assert pods_of_store
        assert {pod.spec.node_name for pod in pods_of_store} == {NODE_NAME}
        assert not working(namespace, standby)

        # The active replica goes away; the standby resumes and the next change
        # (a second storefront replica) is reconciled.
        client.CoreV1Api(kube_api).delete_namespaced_pod(active, namespace)
        eventually(
            lambda: RESUMED in logs(namespace, standby),
            "the standby replica to take over",
            timeout=180,
        )
        stores.patch(store, {"spec": {"services": {"storefront": {"replicas": 2}}}})
        apps = client.AppsV1Api(kube_api)
        eventually(
            lambda: (
                apps.read_namespaced_deployment("storefront", f"store-{store}").spec.replicas == 2
            ),
            "the change to the Store to reach its storefront Deployment",
            timeout=180,
        )
        stores.wait_ready(store, timeout=READY_TIMEOUT)
    finally:
        stores.cleanup()
