"""The stack's servers are reachable from the real node's pods, on the bridge
address only: the API server through the `kubernetes` Service with a pod's own
ServiceAccount token, the datastores on their ports."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from node_pods import run_python

from storefleet.dev.components.relay import RELAYED, Relay
from storefleet.dev.network import NODE_IP


@pytest.fixture
def namespace(kube_api: ApiClient, node_relay: Relay) -> Iterator[str]:
    name = f"relay-{secrets.token_hex(3)}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(
    kube_api: ApiClient, namespace: str
) -> None:
    # What every in-cluster client does: the Service's address, the pod's token,
    # the cluster's CA (so the serving certificate must name that address).
    script = """
import json, os, ssl, urllib.request
account = "/var/run/secrets/kubernetes.io/serviceaccount"
token = open(account + "/token").read()
context = ssl.create_default_context(cafile=account + "/ca.crt")
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
request = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
    data=b'{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}',
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request, context=context))["status"]["userInfo"]["username"])
"""
    finished = run_python(kube_api, namespace, "whoami", script)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.strip() == f"system:serviceaccount:{namespace}:default"


def test_a_pod_connects_to_every_relayed_server(kube_api: ApiClient, namespace: str) -> None:
    ports = sorted(RELAYED.values())
    script = f"""
import socket
for port in {ports!r}:
    with socket.create_connection(("{NODE_IP}", port), timeout=5):
        print("open", port)
"""
    finished = run_python(kube_api, namespace, "dial", script)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.split() == [word for port in ports for word in ("open", str(port))]


def test_the_relay_listens_on_the_bridge_address_only(node_relay: Relay) -> None:
    pid = node_relay.process("haproxy").pid()
    assert pid is not None
    sockets = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    relay = [line.split()[3] for line in sockets if f"pid={pid}," in line]
    assert sorted(relay) == sorted(f"{NODE_IP}:{port}" for port in RELAYED.values())
