"""Rendering: a Store (data) in, the tenant's Kubernetes objects (YAML) out, no cluster."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from storefleet.operator import desired, validation
from storefleet.operator.plans import PLANS
from storefleet.operator.render import key_of, render, to_yaml
from storefleet.operator.services import DRAIN_SECONDS, SERVICE_NAMES
from storefleet.operator.settings import OperatorSettings

ISTIO = desired.ClusterFeatures(istio=True)
PLAIN = desired.ClusterFeatures(istio=False)
ISTIO_KINDS = {
    "Gateway",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
    "AuthorizationPolicy",
}


def objects_of(
    store: dict[str, Any], settings: OperatorSettings, features: desired.ClusterFeatures = PLAIN
) -> list[dict[str, Any]]:
    return render(desired.build(store, features, settings), settings.templates_dir)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("features", [ISTIO, PLAIN], ids=["istio", "no-istio"])
@pytest.mark.parametrize("example", ["minimal_store", "full_store"])
@pytest.mark.parametrize("plan", list(PLANS))
def test_every_rendered_object_fits_its_schema(
    request: pytest.FixtureRequest,
    example: str,
    plan: str,
    features: desired.ClusterFeatures,
    settings: OperatorSettings,
    istio_schemas: dict[tuple[str, str], Any],
) -> None:
    store = copy.deepcopy(request.getfixturevalue(example))
    store["spec"]["plan"] = plan
    objects = objects_of(store, settings, features)
    problems = {
        str(key_of(o)): errors
        for o in objects
        if (errors := validation.check_object(o, istio_schemas))
    }
    assert problems == {}
    istio_kinds = {o["kind"] for o in objects} & ISTIO_KINDS
    assert istio_kinds == (ISTIO_KINDS if features.istio else set())


def test_validation_catches_a_broken_object() -> None:
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replica": 1, "selector": {}, "template": {"spec": {"containers": [{}]}}},
    }
    problems = validation.check_object(broken)
    assert any("spec.replica" in p for p in problems)
    assert any("containers.0.name" in p for p in problems)


def test_a_minimal_store_gets_a_namespace_runtime_and_isolation(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    objects = objects_of(minimal_store, settings)
    kinds = Counter(o["kind"] for o in objects)
    assert objects[0]["kind"] == "Namespace"
    assert objects[0]["metadata"]["name"] == "store-acme"
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert kinds[kind] == len(SERVICE_NAMES), kind
    for kind in ("ResourceQuota", "LimitRange"):
        assert kinds[kind] == 1, kind
    # An identity per service, and no Role: no runtime pod holds an API token.
    accounts = by_kind(objects, "ServiceAccount")
    assert set(accounts) == {f"runtime-{name}" for name in SERVICE_NAMES}
    assert all(account["automountServiceAccountToken"] is False for account in accounts.values())
    assert kinds["Role"] == kinds["RoleBinding"] == 0
    for name, deployment in by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == f"runtime-{name}", name
        assert pod["automountServiceAccountToken"] is False, name
    policies = by_kind(objects, "NetworkPolicy")
    assert policies["default-deny"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    assert {"allow-dns", "allow-same-namespace", "allow-ingress"} <= set(policies)
    assert "allow-integrations" not in policies


def test_every_object_is_labelled_and_owned_by_its_store(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    for obj in objects_of(full_store, settings, ISTIO):
        meta = obj["metadata"]
        assert meta["labels"][desired.STORE_LABEL] == "northwind"
        assert meta["labels"][desired.MANAGED_BY_LABEL] == desired.MANAGED_BY
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "storefleet.io/v1alpha1",
                "kind": "Store",
                "name": "northwind",
                "uid": full_store["metadata"]["uid"],
                "controller": True,
            }
        ]
        if obj["kind"] != "Namespace":
            assert meta["namespace"] == "store-northwind"


def test_rendering_is_deterministic(full_store: dict[str, Any], settings: OperatorSettings) -> None:
    assert to_yaml(objects_of(full_store, settings, ISTIO)) == to_yaml(
        objects_of(full_store, settings, ISTIO)
    )


def test_object_names_are_unique(full_store: dict[str, Any], settings: OperatorSettings) -> None:
    keys = [key_of(o) for o in objects_of(full_store, settings, ISTIO)]
    assert len(keys) == len(set(keys))


def test_runtime_pods_run_as_non_root_with_probes_and_resources(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    plan = PLANS["small"]
    for deployment in by_kind(objects_of(minimal_store, settings), "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)
        # SIGTERM only after the endpoint is gone from every proxy: no refused
        # connection while a rollout replaces the pod.
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": DRAIN_SECONDS}}
        assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS
        assert container["resources"] == {"requests": plan.requests, "limits": plan.limits}
        # The HPA owns replicas; the Deployment must not fight it.
        assert "replicas" not in deployment["spec"]


def test_plan_sets_hpa_bounds_quota_and_limits(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    for name, plan in PLANS.items():
        store = copy.deepcopy(minimal_store)
        store["spec"]["plan"] = name
        objects = objects_of(store, settings)
        for hpa in by_kind(objects, "HorizontalPodAutoscaler").values():
            assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (
                plan.min_replicas,
                plan.max_replicas,
            )
        assert by_kind(objects, "ResourceQuota")["plan"]["spec"]["hard"] == plan.quota
        assert by_kind(objects, "LimitRange")["plan"]["spec"]["limits"][0]["max"] == (
            plan.container_max
        )


def test_service_overrides_win_over_autoscaling_which_wins_over_the_plan(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    objects = objects_of(full_store, settings)
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert (hpas["cart"]["spec"]["minReplicas"], hpas["cart"]["spec"]["maxReplicas"]) == (2, 8)
    assert (hpas["payments"]["spec"]["minReplicas"], hpas["payments"]["spec"]["maxReplicas"]) == (
        3,
        6,
    )
    # fixed replicas: no HPA, replicas on the Deployment
    assert "notifications" not in hpas
    deployments = by_kind(objects, "Deployment")
    assert deployments["notifications"]["spec"]["replicas"] == 1
    payments = deployments["payments"]["spec"]["template"]["spec"]["containers"][0]
    # the override's cpu and memory; the plan's ephemeral-storage, which it leaves out
    assert payments["resources"]["requests"] == {
        "cpu": "200m",
        "memory": "256Mi",
        "ephemeral-storage": "256Mi",
    }
    assert {
        "name": "OTEL_RESOURCE_ATTRIBUTES",
        "value": "deployment.environment=production",
    } in payments["env"]
    # disabled service: nothing rendered, its path falls through to the storefront
    assert not [o for o in objects if o["metadata"]["name"].startswith("analytics")]
    ingress_paths = {
        p["path"]
        for rule in by_kind(objects, "Ingress")["storefront"]["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert "/api/analytics" not in ingress_paths
    assert "/" in ingress_paths


def test_suspend_scales_everything_to_zero_without_hpas(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    minimal_store["spec"]["suspend"] = True
    objects = objects_of(minimal_store, settings)
    assert not by_kind(objects, "HorizontalPodAutoscaler")
    assert {d["spec"]["replicas"] for d in by_kind(objects, "Deployment").values()} == {0}


def test_without_istio_one_ingress_routes_every_domain(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    context = desired.build(full_store, PLAIN, settings)
    assert context["routing"] == "Ingress"
    assert "does not serve the Istio APIs" in context["routing_message"]
    assert "canary is ignored" in context["routing_message"]
    objects = render(context, settings.templates_dir)
    ingress = by_kind(objects, "Ingress")["storefront"]
    assert [r["host"] for r in ingress["spec"]["rules"]] == full_store["spec"]["domains"]
    paths = [p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert paths[-1] == "/", "the catch-all must come after the API prefixes"
    assert not [d for d in by_kind(objects, "Deployment") if d.endswith("-canary")]


def test_mesh_disabled_routes_through_ingress_even_with_istio(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    minimal_store["spec"]["mesh"] = {"enabled": False}
    context = desired.build(minimal_store, ISTIO, settings)
    assert (context["routing"], context["routing_reason"]) == ("Ingress", "IngressByChoice")


def test_istio_gets_a_virtualservice_per_domain_and_canary_weights(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    objects = objects_of(full_store, settings, ISTIO)
    services = by_kind(objects, "VirtualService")
    assert sorted(vs["spec"]["hosts"][0] for vs in services.values()) == sorted(
        full_store["spec"]["domains"]
    )
    for vs in services.values():
        for route in vs["spec"]["http"]:
            weights = {d["destination"]["subset"]: d["weight"] for d in route["route"]}
            assert weights == {"stable": 90, "canary": 10}
    deployments = by_kind(objects, "Deployment")
    assert deployments["cart-canary"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/storefleet/runtime:0.2.0"
    )
    rules = by_kind(objects, "DestinationRule")
    outlier = rules["cart"]["spec"]["trafficPolicy"]["outlierDetection"]
    assert outlier["consecutive5xxErrors"] == 5
    assert [s["name"] for s in rules["cart"]["spec"]["subsets"]] == ["stable", "canary"]
    assert by_kind(objects, "PeerAuthentication")["default"]["spec"]["mtls"]["mode"] == "STRICT"
    assert by_kind(objects, "Namespace")["store-northwind"]["metadata"]["labels"][
        "istio-injection"
    ] == ("enabled")


def test_removing_a_domain_removes_exactly_its_route(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    before = set(by_kind(objects_of(full_store, settings, ISTIO), "VirtualService"))
    full_store["spec"]["domains"] = full_store["spec"]["domains"][:1]
    after = set(by_kind(objects_of(full_store, settings, ISTIO), "VirtualService"))
    assert after < before
    assert before - after == {"northwind-example-com"}


def test_the_spec_integrations_open_their_servers_to_their_service_only(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    full_store["spec"]["notifications"]["smtp"]["host"] = "192.0.2.25"
    full_store["spec"]["notifications"]["sms"]["url"] = "https://[2001:db8::5]:8443/sms"
    full_store["spec"]["payments"]["apiBase"] = "http://stripe-mock.payments-test.svc:12111"
    policies = by_kind(objects_of(full_store, settings), "NetworkPolicy")
    # No shared server is configured offline: nothing is open to every pod.
    assert "allow-integrations" not in policies
    mail = policies["allow-notifications-integrations"]["spec"]
    assert mail["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "notifications"}}
    # The push webhook's name is not resolved offline: it opens nothing.
    assert mail["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "192.0.2.25/32"}}],
            "ports": [{"protocol": "TCP", "port": 587}],
        },
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::5/128"}}],
            "ports": [{"protocol": "TCP", "port": 8443}],
        },
    ]
    gateway = policies["allow-payments-integrations"]["spec"]
    assert gateway["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "payments-test"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 12111}],
        }
    ]
    assert all(rule.get("to") for p in policies.values() for rule in p["spec"].get("egress", []))


def test_dns_outside_pods_is_allowed_by_address_when_configured(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    def peers(configured: OperatorSettings) -> list[dict[str, Any]]:
        policy = by_kind(objects_of(minimal_store, configured), "NetworkPolicy")["allow-dns"]
        (rule,) = policy["spec"]["egress"]
        assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
        return list(rule["to"])

    kube_dns = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    assert peers(settings) == [kube_dns]
    node_dns = OperatorSettings(dns_cidrs=["198.18.0.1/32", "10.96.0.10/32"])
    assert peers(node_dns) == [
        kube_dns,
        {"ipBlock": {"cidr": "198.18.0.1/32"}},
        {"ipBlock": {"cidr": "10.96.0.10/32"}},
    ]


def test_user_text_cannot_break_the_yaml(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    tricky = 'Bob\'s "Best": shop\n---\nkind: Secret # {{ not a template }}'
    minimal_store["spec"]["displayName"] = tricky
    objects = objects_of(minimal_store, settings)
    config = by_kind(objects, "ConfigMap")["store-settings"]
    assert config["data"]["STOREFLEET_STORE_DISPLAY_NAME"] == tricky
    assert "Secret" not in {o["kind"] for o in objects}


def test_branding_reaches_the_runtime_settings(
    full_store: dict[str, Any], settings: OperatorSettings
) -> None:
    data = by_kind(objects_of(full_store, settings), "ConfigMap")["store-settings"]["data"]
    assert data["STOREFLEET_STORE_NAME"] == "Northwind"
    assert data["STOREFLEET_STORE_PRIMARY_COLOR"] == "#0b5394"
    assert data["STOREFLEET_STORE_CURRENCY"] == "EUR"
    assert data["STOREFLEET_STORE_URL"] == "https://shop.northwind.example.com"
    assert data["STOREFLEET_DATABASE_MODE"] == "provisioned"


@pytest.mark.parametrize(("scheme", "secure"), [("https", "true"), ("http", "false")])
def test_storefront_cookies_are_secure_exactly_when_the_shop_is_served_over_https(
    minimal_store: dict[str, Any], scheme: str, secure: str
) -> None:
    settings = OperatorSettings(url_scheme=scheme)
    data = by_kind(objects_of(minimal_store, settings), "ConfigMap")["store-settings"]["data"]
    assert data["STOREFLEET_STOREFRONT_COOKIE_SECURE"] == secure


def test_the_runtime_reads_the_settings_the_operator_renders(
    full_store: dict[str, Any], settings: OperatorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap is the runtime's environment (envFrom): its keys must be the
    runtime's setting names, or a shop silently shows the defaults."""
    from storefleet.runtime.platform.config.settings import StoreSettings

    data = by_kind(objects_of(full_store, settings), "ConfigMap")["store-settings"]["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    store = StoreSettings()
    branding = full_store["spec"]["branding"]
    assert store.name == "Northwind"
    assert store.primary_color == branding["primaryColor"]
    assert store.accent_color == branding["accentColor"]
    assert store.currency == full_store["spec"]["currency"]
    assert store.logo_url == branding["logoUrl"]


def test_the_gateway_cannot_reach_service_to_service_routes(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    """Reservations and cart claims are for the orders service only: the mesh refuses
    them from the ingress gateway, before the caller-credential check even runs."""
    policies = by_kind(objects_of(minimal_store, settings, ISTIO), "AuthorizationPolicy")
    rule = policies["allow-ingress-gateway"]["spec"]["rules"][0]
    refused = rule["to"][0]["operation"]["notPaths"]
    assert "/api/catalog/internal/*" in refused
    assert "/api/cart/internal/*" in refused


def test_the_ingress_sends_service_to_service_routes_where_they_are_not_found(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    """Without a mesh the Ingress is the edge: a service-only prefix goes to the
    storefront (which answers 404), never to the service that would act on it."""
    ingress = by_kind(objects_of(minimal_store, settings), "Ingress")["storefront"]
    for rule in ingress["spec"]["rules"]:
        backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
        assert backends["/api/catalog"] == "catalog"
        assert backends["/api/catalog/internal"] == "storefront"
        assert backends["/api/cart/internal"] == "storefront"
        assert all(
            backends[f"{route}/internal"] == "storefront"
            for route, service in backends.items()
            if service not in {"storefront"} and not route.endswith("/internal")
        )
