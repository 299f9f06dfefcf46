"""Routing follows what the cluster serves: Ingress without Istio, Istio objects with it."""

from __future__ import annotations

from storeharness import BOTH_ROUTINGS, Stores, eventually, install_istio, owned_objects

from storefleet.operator.services import SERVICE_NAMES

ISTIO_KINDS = {"Gateway", "VirtualService", "DestinationRule", "PeerAuthentication"}


def kinds(namespace: str) -> set[str]:
    return {key.split("/")[0] for key in owned_objects(namespace)}


def routing(stores: Stores, name: str) -> str | None:
    found: str | None = (stores.get(name).get("status") or {}).get("routing")
    return found


@BOTH_ROUTINGS
def test_routes_use_ingress_without_istio_and_istio_once_it_is_installed(
    istio: bool, stores: Stores
) -> None:
    name = stores.create(domains=["shop.a.example.com", "shop.b.example.com"])
    namespace = f"store-{name}"
    stores.wait_ready(name)

    if not istio:
        status = stores.get(name)["status"]
        routes = stores.conditions(name)["RoutesReady"]
        assert status["routing"] == "Ingress"
        assert (routes["status"], routes["reason"]) == ("True", "IstioNotInstalled")
        assert "does not serve the Istio APIs" in routes["message"]
        found = owned_objects(namespace)
        assert "Ingress/storefront" in found
        hosts = {rule["host"] for rule in found["Ingress/storefront"]["spec"]["rules"]}
        assert hosts == {"shop.a.example.com", "shop.b.example.com"}
        assert not kinds(namespace) & ISTIO_KINDS
        # A platform team installs Istio later and does nothing else: the operator's
        # periodic pass discovers the APIs again and moves the Store over.
        install_istio()
    else:
        assert routing(stores, name) == "Istio", "Istio was served before the Store was created"

    eventually(lambda: routing(stores, name) == "Istio", "routing via Istio")
    stores.wait_ready(name)
    routes = stores.conditions(name)["RoutesReady"]
    assert (routes["status"], routes["reason"]) == ("True", "IstioRoutes")
    found = owned_objects(namespace)
    assert "Ingress/storefront" not in found, "the Ingress must be pruned once Istio routes"
    assert {key.split("/")[0] for key in found} >= ISTIO_KINDS
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
