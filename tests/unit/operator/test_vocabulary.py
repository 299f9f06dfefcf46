"""The operator's words are the ones its readers expect.

The CRDs' schemas and printer columns, the Argo CD health script and the alerts
match on these strings; a member renamed on one side only would leave a column
empty or a Store Healthy that is not. Each test reads the other side from its file.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml

from storefleet.operator import status, vendors
from storefleet.operator.vocabulary import (
    ConditionType,
    Reason,
    Routing,
    StorePhase,
    VendorConditionType,
    VendorPhase,
)

ROOT = Path(__file__).resolve().parents[3]
CRDS = {"Store": "stores.storefleet.io.yaml", "Vendor": "vendors.storefleet.io.yaml"}
CONDITION_TYPES: dict[str, type[StrEnum]] = {"Store": ConditionType, "Vendor": VendorConditionType}
PHASES: dict[str, type[StrEnum]] = {"Store": StorePhase, "Vendor": VendorPhase}


def crd_version(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / CRDS[kind]).read_text())
    version: dict[str, Any] = crd["spec"]["versions"][0]
    return version


def status_schema(kind: str) -> dict[str, Any]:
    found: dict[str, Any] = crd_version(kind)["schema"]["openAPIV3Schema"]["properties"]["status"]
    return found["properties"]


def test_a_stores_phases_are_the_crds_enum() -> None:
    assert {p.value for p in StorePhase} == set(status_schema("Store")["phase"]["enum"])


def test_a_vendors_phases_are_in_the_crds_enum() -> None:
    assert {p.value for p in VendorPhase} <= set(status_schema("Vendor")["phase"]["enum"])


def test_routing_modes_are_the_crds_enum() -> None:
    assert {r.value for r in Routing} == set(status_schema("Store")["routing"]["enum"])


def test_condition_types_and_reasons_pass_the_crds_patterns() -> None:
    # The Store CRD spells out the Kubernetes condition conventions; the Vendor CRD
    # states no pattern, and its conditions follow the same ones.
    item = status_schema("Store")["conditions"]["items"]["properties"]
    type_pattern, reason_pattern = item["type"]["pattern"], item["reason"]["pattern"]
    for member in [*ConditionType, *VendorConditionType]:
        assert re.fullmatch(type_pattern, member), member
        assert len(member) <= item["type"]["maxLength"]
    for reason in Reason:
        assert re.fullmatch(reason_pattern, reason), reason


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_the_ready_printer_column_reads_the_ready_condition(kind: str) -> None:
    column = next(c for c in crd_version(kind)["additionalPrinterColumns"] if c["name"] == "Ready")
    assert column["jsonPath"] == f'.status.conditions[?(@.type=="{ConditionType.READY}")].status'
    assert VendorConditionType.READY == ConditionType.READY


def test_the_argocd_health_script_reads_written_phases_and_the_ready_condition() -> None:
    script = (ROOT / "examples" / "argocd" / "health.lua").read_text()
    phases = set(re.findall(r'status\.phase == "(\w+)"', script))
    types = set(re.findall(r'condition\.type == "(\w+)"', script))
    assert phases, "the script compares no phase: this test no longer reads it"
    assert phases <= {p.value for p in StorePhase} & {p.value for p in VendorPhase}
    assert types == {ConditionType.READY}


def test_the_alerts_match_phases_stores_have() -> None:
    alerts = (ROOT / "monitoring" / "alerts.yaml").read_text()
    matchers = re.findall(r'storefleet_stores\{phase=~?"([^"]+)"\}', alerts)
    assert matchers, "no alert on storefleet_stores{phase=...}: this test no longer reads them"
    named = {phase for matcher in matchers for phase in matcher.split("|")}
    assert named <= {p.value for p in StorePhase}


def test_every_store_condition_type_is_ordered_and_judged_by_ready() -> None:
    # status.CONDITIONS decides whether Ready waits for a condition; a type without a
    # row there would be written but never gate Ready, nor be sorted.
    assert tuple(ConditionType) == status.CONDITION_ORDER
    assert (VendorConditionType.READY, *vendors.CONDITIONS) == tuple(VendorConditionType)
