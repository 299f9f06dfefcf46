"""spec.placement decides where a Store's pods run; the operator's settings fill the gaps."""

from __future__ import annotations

import copy
from typing import Any

from conftest import edited

from storefleet.operator import desired
from storefleet.operator.render import render
from storefleet.operator.settings import OperatorSettings

POOL = {"pool": "shops"}
TOLERATE_SHOPS = [
    {"key": "dedicated", "operator": "Equal", "value": "shops", "effect": "NoSchedule"}
]


def pod_specs(store: dict[str, Any], settings: OperatorSettings) -> dict[str, dict[str, Any]]:
    """Every pod template of the rendered Store, by workload kind/name."""
    context = desired.build(store, desired.ClusterFeatures(istio=False), settings)
    # As if no shared server were configured: the in-namespace datastores render too.
    context["tenancy"]["in_namespace"] = ["database", "cache"]
    objects = render(context, settings.templates_dir)
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    }


def test_without_placement_pods_go_wherever_the_scheduler_puts_them(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    specs = pod_specs(minimal_store, settings)
    assert specs
    assert all("nodeSelector" not in spec and "tolerations" not in spec for spec in specs.values())


def test_a_stores_placement_reaches_every_pod_including_its_datastores(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(minimal_store, placement={"nodeSelector": POOL, "tolerations": TOLERATE_SHOPS})
    specs = pod_specs(store, settings)
    assert {"StatefulSet/postgres", "StatefulSet/redis", "Deployment/storefront"} <= set(specs)
    for name, spec in specs.items():
        assert spec["nodeSelector"] == POOL, name
        assert spec["tolerations"] == TOLERATE_SHOPS, name


def test_the_operators_defaults_fill_only_what_the_store_leaves_out(
    minimal_store: dict[str, Any],
) -> None:
    settings = OperatorSettings(
        default_node_selector={"type": "kwok"},
        default_tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
    )
    defaulted = pod_specs(copy.deepcopy(minimal_store), settings)["Deployment/cart"]
    assert defaulted["nodeSelector"] == {"type": "kwok"}
    assert defaulted["tolerations"] == [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]

    own_selector = pod_specs(edited(minimal_store, placement={"nodeSelector": POOL}), settings)
    assert own_selector["Deployment/cart"]["nodeSelector"] == POOL
    assert own_selector["Deployment/cart"]["tolerations"] == defaulted["tolerations"]


def test_a_demo_seed_is_one_job_on_the_stores_nodes_named_for_its_version(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    store = edited(
        minimal_store,
        catalog={"seed": "demo"},
        database={"enabled": True},
        placement={"nodeSelector": POOL},
    )
    context = desired.build(store, desired.ClusterFeatures(istio=False), settings)
    jobs = [o for o in render(context, settings.templates_dir) if o["kind"] == "Job"]
    assert [job["metadata"]["name"] for job in jobs] == ["catalog-seed-0-1-0"]
    pod = jobs[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["runtime", "import-demo"]
    assert pod["nodeSelector"] == POOL
    # Not a catalog pod: the catalog Service must never send shoppers to it.
    assert jobs[0]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "catalog-seed"
    )


def test_no_seed_job_without_a_seed(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    context = desired.build(minimal_store, desired.ClusterFeatures(istio=False), settings)
    assert not [o for o in render(context, settings.templates_dir) if o["kind"] == "Job"]
