"""Istio's and Argo CD's CRDs are served by the local control plane, with their real schemas.

The operator's routes, mTLS and authorization policies and the Argo CD
Application of the examples are checked by the API server itself: what is
well formed is stored, what is malformed is refused with 422.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

ISTIO_NETWORKING = ("networking.istio.io", "v1")
ISTIO_SECURITY = ("security.istio.io", "v1")


@pytest.fixture
def namespace(platform_crds: ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(platform_crds)
    name = f"test-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def create(api: ApiClient, group_version: tuple[str, str], plural: str, namespace: str,
           body: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    group, version = group_version
    kind = body["kind"]
    body = {"apiVersion": f"{group}/{version}", **body}
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        group, version, namespace, plural, body
    )
    assert created["kind"] == kind
    return created


def virtual_service(weights: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "kind": "VirtualService",
        "metadata": {"name": "storefront"},
        "spec": {
            "hosts": ["acme.shop.test"],
            "gateways": ["storefront"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "storefront", "subset": "stable"}, "weight": w}
                        for w in weights
                    ]
                }
            ],
        },
    }


def test_the_operators_istio_resources_are_accepted(
    platform_crds: ApiClient, namespace: str
) -> None:
    create(platform_crds, ISTIO_NETWORKING, "virtualservices", namespace, virtual_service((90, 10)))
    create(platform_crds, ISTIO_NETWORKING, "gateways", namespace, {
        "kind": "Gateway",
        "metadata": {"name": "storefront"},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                         "hosts": ["acme.shop.test"]}],
        },
    })  # fmt: skip
    create(platform_crds, ISTIO_NETWORKING, "destinationrules", namespace, {
        "kind": "DestinationRule",
        "metadata": {"name": "storefront"},
        "spec": {
            "host": "storefront",
            "trafficPolicy": {
                "connectionPool": {"http": {"http1MaxPendingRequests": 100}},
                "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s",
                                     "baseEjectionTime": "30s"},
            },
            "subsets": [{"name": "stable", "labels": {"version": "stable"}}],
        },
    })  # fmt: skip
    create(platform_crds, ISTIO_SECURITY, "peerauthentications", namespace, {
        "kind": "PeerAuthentication",
        "metadata": {"name": "default"},
        "spec": {"mtls": {"mode": "STRICT"}},
    })  # fmt: skip
    create(platform_crds, ISTIO_SECURITY, "authorizationpolicies", namespace, {
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "same-namespace"},
        "spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": [namespace]}}]}]},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("spec_change", "complaint"),
    [
        ({"weights": ("ninety", 10)}, "weight"),
        ({"drop_host": True}, "host"),
    ],
    ids=["weight-not-a-number", "destination-without-host"],
)
def test_a_malformed_virtual_service_is_refused(
    platform_crds: ApiClient, namespace: str, spec_change: dict[str, Any], complaint: str
) -> None:
    body = virtual_service(spec_change.get("weights", (90, 10)))
    if spec_change.get("drop_host"):
        del body["spec"]["http"][0]["route"][0]["destination"]["host"]
    with pytest.raises(ApiException) as refused:
        create(platform_crds, ISTIO_NETWORKING, "virtualservices", namespace, body)
    assert refused.value.status == 422
    assert complaint in str(refused.value.body)


def test_an_argo_cd_application_is_served_and_checked(
    platform_crds: ApiClient, namespace: str
) -> None:
    application = {
        "kind": "Application",
        "metadata": {"name": "acme-store"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.test/platform/stores.git",
                "path": "stores/acme",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "acme"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    created = create(platform_crds, ("argoproj.io", "v1alpha1"), "applications", namespace,
                     application)  # fmt: skip
    assert created["spec"]["destination"]["namespace"] == "acme"

    # destination is required by the Application schema.
    del application["spec"]["destination"]
    application["metadata"]["name"] = "no-destination"
    with pytest.raises(ApiException) as refused:
        create(platform_crds, ("argoproj.io", "v1alpha1"), "applications", namespace, application)
    assert refused.value.status == 422
    assert "destination" in str(refused.value.body)
