"""Replicas inside the HorizontalPodAutoscaler's bounds from the first apply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storefleet.operator.apply import ApplyReport
from storefleet.operator.kube import Kube
from storefleet.operator.observe import DEPLOYMENT
from storefleet.operator.render import ObjectKey


async def hold_autoscaling_bounds(
    kube: Kube, field_manager: str, context: Mapping[str, Any], report: ApplyReport
) -> None:
    """Moves replicas into the HPA's bounds now, as the HPA would at its next sync.

    The applied Deployment leaves replicas to the HPA, so a new one starts at 1;
    waiting up to a sync period for the HPA would report Ready at 1 replica and then
    flap. The scale subresource is written under a separate field manager, so the
    apply never owns replicas and never fights the HPA.
    """
    for service in context["services"]:
        hpa = service["hpa"]
        if hpa is None:
            continue
        name = service["workloads"][0]["name"]
        key = ObjectKey("apps/v1", "Deployment", context["namespace"], name)
        applied = report.applied.get(key)
        if applied is None:
            continue
        current = int((applied.get("spec") or {}).get("replicas", 1))
        wanted = min(max(current, hpa["min"]), hpa["max"])
        if wanted != current:
            await kube.scale(
                DEPLOYMENT,
                context["namespace"],
                name,
                wanted,
                f"{field_manager}-bounds",
            )
