"""Short-lived pods on the real node for the dev stack's tests: run one, read its logs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client import ApiClient

from storefleet.dev import images
from storefleet.dev.components.kubernetes import Kubernetes

REAL_NODE = {"storefleet.io/node": "real"}


@dataclass(frozen=True)
class Finished:
    phase: str | None
    logs: str


def base_image() -> str:
    """The Debian base built here (python3 included), present in the node's containerd."""
    return images.base_archive(report=lambda _: None).reference


def run_python(
    api: ApiClient,
    namespace: str,
    name: str,
    script: str,
    *,
    image: str | None = None,
    timeout: float = 120,
) -> Finished:
    """Run a Python script in a pod on the real node as an unprivileged user; wait for it.

    In the base image unless told another (the runtime's has its client libraries).
    The pod passes the restricted Pod Security level, so it runs in a Store's
    namespace too, where it is one of the Store's pods to its NetworkPolicies."""
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": REAL_NODE,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": name,
                        "image": image or base_image(),
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-c", script],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    )
    deadline = time.monotonic() + timeout
    phase = None
    while time.monotonic() < deadline:
        phase = core.read_namespaced_pod(name, namespace).status.phase
        if phase in {"Succeeded", "Failed"}:
            break
        time.sleep(1)
    logs = Kubernetes().kubectl("logs", "-n", namespace, name)
    return Finished(phase, logs.stdout + logs.stderr)
