"""The CRDs as users meet them: defaults, columns, messages, and the examples fitting them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from storefleet.operator import desired, schema
from storefleet.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[3]


def crd(name: str) -> dict[str, Any]:
    return schema.load_crd(ROOT / "crds" / f"{name}.storefleet.io.yaml")


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, sub in (node.get("properties") or {}).items():
            found += walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            found += walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            found += walk(node["additionalProperties"], f"{path}.*")
    return found


def test_store_is_cluster_scoped_and_vendor_namespaced() -> None:
    assert crd("stores")["spec"]["scope"] == "Cluster"
    assert crd("vendors")["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize("name", ["stores", "vendors"])
def test_every_field_has_a_type_so_the_schema_is_structural(name: str) -> None:
    for path, node in walk(schema.crd_schema(crd(name))):
        assert (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ), f"{path} has no type"


@pytest.mark.parametrize("name", ["stores", "vendors"])
def test_every_cel_rule_says_what_to_fix(name: str) -> None:
    rules = [
        rule
        for _, node in walk(schema.crd_schema(crd(name)))
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert rules
    for rule in rules:
        assert len(rule.get("message", "")) > 30, rule


def test_kubectl_get_stores_shows_phase_ready_url_plan_age() -> None:
    version = crd("stores")["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Phase", "Ready", "URL", "Plan", "Age"]
    assert any(c.get("priority") == 1 for c in version["additionalPrinterColumns"])
    assert version["subresources"] == {"status": {}}


def test_status_keeps_room_for_kopf() -> None:
    status = schema.crd_schema(crd("stores"))["properties"]["status"]
    assert status["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] is True


@pytest.mark.parametrize("example", ["store.yaml", "store-demo.yaml", "store-full.yaml"])
def test_examples_fit_the_crd(example: str, settings: OperatorSettings) -> None:
    store = yaml.safe_load((ROOT / "examples" / example).read_text())
    defaulted = desired.with_defaults(store, settings)
    assert schema.validate(schema.crd_schema(crd("stores")), defaulted) == []


def test_a_minimal_store_gets_the_documented_defaults(
    minimal_store: dict[str, Any], settings: OperatorSettings
) -> None:
    spec = desired.with_defaults(minimal_store, settings)["spec"]
    assert spec["plan"] == "small"
    assert spec["deletionPolicy"] == "Retain"
    assert spec["suspend"] is False
    assert spec["currency"] == "USD"
    assert spec["runtime"]["version"] == "0.1.0"
    assert spec["mesh"]["mtls"] == "STRICT"
    assert spec["mesh"]["circuitBreaker"]["consecutive5xxErrors"] == 5


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"plan": "huge"}, "spec.plan: unsupported value 'huge'"),
        ({"domains": ["Shop.Example.com"]}, "spec.domains[0]"),
        ({"domains": []}, "spec.domains: must have at least 1 items"),
        ({"currency": "euro"}, "spec.currency"),
        ({"branding": {"primaryColor": "blue"}}, "spec.branding.primaryColor"),
        ({"autoscaling": {"minReplicas": 0, "maxReplicas": 2}}, "must be at least 1"),
        ({"colour": "red"}, "spec.colour: unknown field"),
    ],
)
def test_offline_validation_refuses_bad_specs(
    minimal_store: dict[str, Any], settings: OperatorSettings, spec: dict[str, Any], complaint: str
) -> None:
    minimal_store["spec"].update(spec)
    problems = schema.validate(
        schema.crd_schema(crd("stores")), desired.with_defaults(minimal_store, settings)
    )
    assert any(complaint in problem for problem in problems), problems


def test_crd_reference_is_generated_from_the_crds() -> None:
    from storefleet.operator.crddocs import reference

    assert (ROOT / "docs" / "crd-reference.md").read_text() == reference(ROOT / "crds"), (
        "docs/crd-reference.md is stale: run "
        "`storefleet operator crd-docs --output docs/crd-reference.md`"
    )


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "operator-settings.md").read_text()
    for name in OperatorSettings.model_fields:
        assert f"STOREFLEET_OPERATOR_{name.upper()}" in text, name
