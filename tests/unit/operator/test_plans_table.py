"""Plans are a table whose rows must be internally consistent."""

from __future__ import annotations

import pytest

from storefleet.operator.plans import PLANS, Plan, plan_for
from storefleet.operator.services import SERVICES

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(text: str) -> float:
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@pytest.mark.parametrize("plan", PLANS.values(), ids=list(PLANS))
def test_quota_fits_every_service_at_its_maximum_plus_a_canary(plan: Plan) -> None:
    pods = len(SERVICES) * (plan.max_replicas + 1)
    assert int(plan.quota["pods"]) >= pods
    for resource in ("cpu", "memory"):
        assert quantity(plan.quota[f"requests.{resource}"]) >= pods * quantity(
            plan.requests[resource]
        )
        assert quantity(plan.quota[f"limits.{resource}"]) >= pods * quantity(plan.limits[resource])


@pytest.mark.parametrize("plan", PLANS.values(), ids=list(PLANS))
def test_bounds_are_ordered(plan: Plan) -> None:
    assert 1 <= plan.min_replicas <= plan.max_replicas
    for resource in ("cpu", "memory"):
        assert quantity(plan.requests[resource]) <= quantity(plan.limits[resource])
        assert quantity(plan.limits[resource]) <= quantity(plan.container_max[resource])


def test_bigger_plans_are_bigger() -> None:
    small, standard, large = (PLANS[name] for name in ("small", "standard", "large"))
    assert small.max_replicas < standard.max_replicas < large.max_replicas
    assert int(small.quota["pods"]) < int(standard.quota["pods"]) < int(large.quota["pods"])


def test_unknown_plan_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="small, standard, large"):
        plan_for("huge")
