"""The chart's guardrails for tenant namespaces, enforced by the control plane's
own admission (ValidatingAdmissionPolicy): each forbidden object is refused in a
namespace labelled ``storefleet.io/tenant`` with a message that says what to
change, what a Store renders is admitted, and other namespaces are left alone.
Every request is a server-side dry run: the API server admits or refuses it as it
would a real one, and nothing is created."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helm_harness import CHART, run_helm
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from storefleet.dev.components.kubernetes import Kubernetes

ALLOWED_IMAGE = "ghcr.io/storefleet/runtime:1.0.0"
FOREIGN_IMAGE = "docker.io/library/busybox:1.36"


def pod(**spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": ALLOWED_IMAGE, **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"probe-{secrets.token_hex(3)}"},
        "spec": {"containers": [container], **spec},
    }


def service(kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"probe-{secrets.token_hex(3)}"},
        "spec": {"type": kind, "selector": {"app": "x"}, "ports": [{"port": 80}]},
    }


def deployment(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"probe-{secrets.token_hex(3)}"},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {"metadata": {"labels": {"app": "probe"}}, "spec": template["spec"]},
        },
    }


def cronjob(template: dict[str, Any]) -> dict[str, Any]:
    spec = {**template["spec"], "restartPolicy": "Never"}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"probe-{secrets.token_hex(3)}"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
    }


def dry_run(api: ApiClient, namespace: str, body: dict[str, Any]) -> None:
    """Create ``body`` as a server-side dry run; raises ApiException when refused."""
    kind = body["kind"]
    if kind == "Pod":
        client.CoreV1Api(api).create_namespaced_pod(namespace, body, dry_run="All")
    elif kind == "Service":
        client.CoreV1Api(api).create_namespaced_service(namespace, body, dry_run="All")
    elif kind == "Deployment":
        client.AppsV1Api(api).create_namespaced_deployment(namespace, body, dry_run="All")
    elif kind == "CronJob":
        client.BatchV1Api(api).create_namespaced_cron_job(namespace, body, dry_run="All")
    else:
        raise AssertionError(f"no dry run for {kind}")


def refusal(api: ApiClient, namespace: str, body: dict[str, Any]) -> str | None:
    """The API server's message when it refuses ``body``; None when it admits it."""
    try:
        dry_run(api, namespace, body)
    except ApiException as refused:
        status, answer = refused.status, refused.body
    else:
        return None
    assert status in (403, 422), answer
    return str(json.loads(answer)["message"])


def namespace_with(api: ApiClient, labels: dict[str, str]) -> str:
    name = f"vap-{secrets.token_hex(3)}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": labels}})
    return name


@pytest.fixture(scope="module")
def guardrails(helm: str, kube_api: ApiClient) -> Iterator[dict[str, str]]:
    """The chart's policies installed under a release of their own, and three
    namespaces: a tenant's, a tenant's opened to external Services, and a plain one."""
    release = f"vap{secrets.token_hex(3)}"
    rendered = run_helm(
        helm, "template", release, str(CHART), "--show-only", "templates/admission-policies.yaml"
    )
    assert rendered.returncode == 0, rendered.stderr
    cluster = Kubernetes()
    applied = cluster.kubectl("apply", "--server-side", "-f", "-", input=rendered.stdout)
    assert applied.returncode == 0, applied.stderr
    namespaces = {
        "tenant": namespace_with(kube_api, {"storefleet.io/tenant": "vap"}),
        "opened": namespace_with(
            kube_api,
            {"storefleet.io/tenant": "vap", "storefleet.io/external-services": "allowed"},
        ),
        "plain": namespace_with(kube_api, {}),
    }
    # A new policy takes a moment to reach the API server's admission chain.
    deadline = time.monotonic() + 60
    while refusal(kube_api, namespaces["tenant"], pod(hostNetwork=True)) is None:
        assert time.monotonic() < deadline, "the tenant policies never took effect"
        time.sleep(0.5)
    try:
        yield namespaces
    finally:
        for name in namespaces.values():
            client.CoreV1Api(kube_api).delete_namespace(name)
        cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered.stdout)


FORBIDDEN = {
    "privileged container": (
        pod(container={"securityContext": {"privileged": True}}),
        "privileged containers are not allowed in a tenant namespace: app",
    ),
    "privileged init container": (
        pod(
            initContainers=[
                {"name": "setup", "image": ALLOWED_IMAGE, "securityContext": {"privileged": True}}
            ]
        ),
        "privileged containers are not allowed in a tenant namespace: setup",
    ),
    "hostPath volume": (
        pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        "hostPath volumes are not allowed in a tenant namespace: root",
    ),
    "host network": (pod(hostNetwork=True), "hostNetwork, hostPID and hostIPC are not allowed"),
    "host PID": (pod(hostPID=True), "hostNetwork, hostPID and hostIPC are not allowed"),
    "foreign image": (
        pod(container={"image": FOREIGN_IMAGE}),
        f"images must come from ghcr.io/storefleet/ in a tenant namespace: {FOREIGN_IMAGE}",
    ),
    "Deployment of a privileged pod": (
        deployment(pod(container={"securityContext": {"privileged": True}})),
        "privileged containers are not allowed",
    ),
    "CronJob of a foreign image": (
        cronjob(pod(container={"image": FOREIGN_IMAGE})),
        "images must come from ghcr.io/storefleet/",
    ),
    "LoadBalancer Service": (
        service("LoadBalancer"),
        "a Service of type LoadBalancer is not allowed in a tenant namespace",
    ),
    "NodePort Service": (
        service("NodePort"),
        "a Service of type NodePort is not allowed in a tenant namespace",
    ),
}


@pytest.mark.parametrize(("body", "message"), FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_a_forbidden_object_is_refused_in_a_tenant_namespace_with_what_to_fix(
    guardrails: dict[str, str], kube_api: ApiClient, body: dict[str, Any], message: str
) -> None:
    refused = refusal(kube_api, guardrails["tenant"], body)
    assert refused is not None, f"admitted: {body}"
    assert message in refused, refused


def test_what_a_store_runs_is_admitted_in_its_namespace(
    guardrails: dict[str, str], kube_api: ApiClient
) -> None:
    restricted = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    admitted = [
        pod(container={"securityContext": restricted}),
        pod(volumes=[{"name": "data", "emptyDir": {}}]),
        deployment(pod()),
        cronjob(pod()),
        service("ClusterIP"),
    ]
    for body in admitted:
        assert refusal(kube_api, guardrails["tenant"], body) is None, body


def test_a_namespace_opened_by_the_platform_team_may_have_external_services(
    guardrails: dict[str, str], kube_api: ApiClient
) -> None:
    assert refusal(kube_api, guardrails["opened"], service("NodePort")) is None
    # The label opens Services only: the pod rules still hold there.
    assert refusal(kube_api, guardrails["opened"], pod(hostNetwork=True)) is not None


def test_namespaces_that_are_not_a_tenants_are_left_alone(
    guardrails: dict[str, str], kube_api: ApiClient
) -> None:
    for body, _ in FORBIDDEN.values():
        assert refusal(kube_api, guardrails["plain"], body) is None, body
