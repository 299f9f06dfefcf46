"""Routing follows what the cluster serves: Ingress without Istio, Istio objects with it."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from storeharness import Stores, eventually, istio_crds, kubectl, owned_objects

from storefleet.operator.services import SERVICE_NAMES

ISTIO_KINDS = {"Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"}


def istio_served() -> bool:
    return "networking.istio.io/v1" in kubectl("api-versions").stdout.split()


@pytest.fixture
def istio_installed_here(kube_api: ApiClient) -> Iterator[bool]:
    """Whether this test installs Istio's CRDs (and so removes them afterwards)."""
    if istio_served():
        yield False
        return
    yield True
    extensions = client.ApiextensionsV1Api(kube_api)
    for crd in istio_crds():
        try:
            extensions.delete_custom_resource_definition(crd["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 404:
                raise
    eventually(lambda: not istio_served(), "Istio's APIs to be gone")


def install_istio() -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        yaml.safe_dump_all(istio_crds(), handle)
        handle.flush()
        kubectl("apply", "--server-side", "-f", handle.name)
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", check=True)
    eventually(istio_served, "Istio's APIs to be served")


def kinds(namespace: str) -> set[str]:
    return {key.split("/")[0] for key in owned_objects(namespace)}


def test_routes_use_ingress_without_istio_and_istio_once_it_is_installed(
    stores: Stores, istio_installed_here: bool
) -> None:
    name = stores.create(domains=["shop.a.example.com", "shop.b.example.com"])
    namespace = f"store-{name}"
    stores.wait_ready(name)

    if istio_installed_here:
        status = stores.get(name)["status"]
        routes = stores.conditions(name)["RoutesReady"]
        assert status["routing"] == "Ingress"
        assert (routes["status"], routes["reason"]) == ("True", "IstioNotInstalled")
        assert "does not serve the Istio APIs" in routes["message"]
        assert "Ingress" in kinds(namespace)
        install_istio()
        stores.patch(
            name,
            {"metadata": {"annotations": {"storefleet.io/reconcile-request": str(time.time())}}},
        )

    eventually(
        lambda: stores.get(name).get("status", {}).get("routing") == "Istio", "routing via Istio"
    )
    stores.wait_ready(name)
    routes = stores.conditions(name)["RoutesReady"]
    assert (routes["status"], routes["reason"]) == ("True", "IstioRoutes")
    found = owned_objects(namespace)
    assert {key.split("/")[0] for key in found} >= ISTIO_KINDS
    assert "Ingress/storefront" not in found, "the Ingress must be pruned once Istio routes"
    assert {f"DestinationRule/{service}" for service in SERVICE_NAMES} <= set(found)
    assert found["PeerAuthentication/default"]["spec"]["mtls"]["mode"] == "STRICT"
    assert {
        vs["spec"]["hosts"][0] for key, vs in found.items() if key.startswith("VirtualService/")
    } == {"shop.a.example.com", "shop.b.example.com"}

    stores.patch(name, {"spec": {"domains": ["shop.a.example.com"]}})
    eventually(
        lambda: not any(k.startswith("VirtualService/shop-b") for k in owned_objects(namespace)),
        "the removed domain's VirtualService to be pruned",
    )
    assert "VirtualService/shop-a-example-com" in owned_objects(namespace)
    assert any(e["reason"] == "Pruned" for e in stores.events(name))
