"""The dev stack's real node runs containers: a pod of an image built here starts in
containerd, resolves cluster names through cluster DNS, and its logs reach kubectl."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from node_pods import run_python

from storefleet.dev.components.node import GUARD_CHAIN, Node
from storefleet.dev.network import BRIDGE, NODE_IP, SERVICE_IP
from storefleet.dev.nodeconfig import NODE_NAME


@pytest.fixture
def namespace(kube_api: ApiClient, real_node: Node) -> Iterator[str]:
    name = f"node-{secrets.token_hex(3)}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_the_node_is_ready_at_the_control_planes_version(
    kube_api: ApiClient, real_node: Node
) -> None:
    node = client.CoreV1Api(kube_api).read_node(NODE_NAME)
    conditions = {c.type: c.status for c in node.status.conditions}
    assert conditions["Ready"] == "True"
    version = client.VersionApi(kube_api).get_code().git_version
    assert node.status.node_info.kubelet_version == version
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert {a.address for a in node.status.addresses if a.type == "InternalIP"} == {NODE_IP}
    assert not node.spec.taints


def test_pod_traffic_cannot_be_forwarded_off_the_bridge(real_node: Node) -> None:
    # In mangle, which runs before any firewall's ACCEPT in filter (kube-router's).
    rules = subprocess.run(
        ["iptables", "-w", "-t", "mangle", "-S", GUARD_CHAIN],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"-i {BRIDGE} ! -o {BRIDGE} -j DROP" in rules
    assert f"! -i {BRIDGE} -o {BRIDGE} -j DROP" in rules
    forward = subprocess.run(
        ["iptables", "-w", "-t", "mangle", "-S", "FORWARD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"-A FORWARD -j {GUARD_CHAIN}" in forward


def test_a_pod_runs_resolves_cluster_dns_and_its_logs_reach_kubectl(
    kube_api: ApiClient, namespace: str
) -> None:
    script = (
        "import socket; "
        "print('resolved', socket.gethostbyname('kubernetes.default.svc.cluster.local'))"
    )
    finished = run_python(kube_api, namespace, "probe", script)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.strip() == f"resolved {SERVICE_IP}"
