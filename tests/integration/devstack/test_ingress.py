"""The real node's Ingress controller routes an Ingress's host and paths to the pods
behind its Services, as a cluster's does; its control ports stay on loopback."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from node_pods import REAL_NODE, base_image, run_python

from storefleet.dev.components.ingress import CONTROLLER_HEALTHZ_PORT, INGRESS_CLASS, Ingress
from storefleet.dev.network import NODE_IP

HOST = "shop.ingress.test"
# A web server per path prefix, each answering with its own name.
SERVER = """
import http.server, os
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ['NAME']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("", 8080), Answer).serve_forever()
"""


@pytest.fixture
def namespace(kube_api: ApiClient, node_ingress: Ingress) -> Iterator[str]:
    name = f"ingress-{secrets.token_hex(3)}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def _web_server(api: ApiClient, namespace: str, name: str) -> None:
    labels = {"app": name}
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": REAL_NODE,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                        "containers": [
                            {
                                "name": "web",
                                "image": base_image(),
                                "imagePullPolicy": "Never",
                                "command": ["python3", "-c", SERVER],
                                "env": [{"name": "NAME", "value": name}],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "readinessProbe": {"tcpSocket": {"port": 8080}},
                            }
                        ],
                    },
                },
            },
        },
    )
    client.CoreV1Api(api).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )


def _ingress(api: ApiClient, namespace: str, paths: dict[str, str]) -> None:
    client.NetworkingV1Api(api).create_namespaced_ingress(
        namespace,
        {
            "metadata": {"name": "shop"},
            "spec": {
                "ingressClassName": INGRESS_CLASS,
                "rules": [
                    {
                        "host": HOST,
                        "http": {
                            "paths": [
                                {
                                    "path": path,
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": service, "port": {"name": "http"}}
                                    },
                                }
                                for path, service in paths.items()
                            ]
                        },
                    }
                ],
            },
        },
    )


def _get(ingress: Ingress, path: str, host: str, timeout: float = 120) -> httpx.Response:
    """GET through the controller, waiting while the route is not in place yet."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{ingress.url}{path}", headers={"Host": host}, timeout=5)
        if response.status_code not in {404, 503} or time.monotonic() > deadline:
            return response
        time.sleep(1)


def test_an_ingress_routes_its_host_and_paths_to_the_pods_of_each_service(
    kube_api: ApiClient, namespace: str, node_ingress: Ingress
) -> None:
    for name in ("storefront", "catalog"):
        _web_server(kube_api, namespace, name)
    _ingress(kube_api, namespace, {"/": "storefront", "/api/catalog": "catalog"})

    home = _get(node_ingress, "/", HOST)
    assert (home.status_code, home.text) == (200, "storefront /")
    products = _get(node_ingress, "/api/catalog/products", HOST)
    assert (products.status_code, products.text) == (200, "catalog /api/catalog/products")
    # Another host has no rule: the controller's default backend answers, not a pod.
    other = httpx.get(f"{node_ingress.url}/", headers={"Host": "other.test"}, timeout=5)
    assert other.status_code == 404


def test_the_controllers_health_port_is_refused_from_pods(
    kube_api: ApiClient, namespace: str, node_ingress: Ingress
) -> None:
    assert httpx.get(f"http://127.0.0.1:{CONTROLLER_HEALTHZ_PORT}/healthz", timeout=5).is_success
    script = f"""
import socket
try:
    socket.create_connection(("{NODE_IP}", {CONTROLLER_HEALTHZ_PORT}), timeout=3)
    print("open")
except OSError as error:
    print("refused", type(error).__name__)
"""
    finished = run_python(kube_api, namespace, "dial", script)
    assert finished.phase == "Succeeded", finished.logs
    assert finished.logs.startswith("refused"), finished.logs
