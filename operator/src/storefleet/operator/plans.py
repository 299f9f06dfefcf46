"""Plans: how big a tenant is. One row per plan; nothing else branches on the plan name.

The quota of a plan is sized so that every service at its autoscaling maximum,
plus a canary replica per service, fits inside it (tests/unit/operator/test_plans.py
holds that invariant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class Plan:
    name: str
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    requests: dict[str, str]
    limits: dict[str, str]
    # ResourceQuota.spec.hard of the tenant namespace
    quota: dict[str, str]
    # LimitRange max per container, so one service cannot take the whole quota
    container_max: dict[str, str]
    pdb_max_unavailable: int | str
    description: str = field(default="")
    # Volume of the in-namespace PostgreSQL, when a Store gets one.
    database_storage: str = field(default="1Gi")
    # Volume of the in-namespace Redis (its append-only file: the event streams).
    cache_storage: str = field(default="1Gi")


# Local disk of a container (its logs, and the emptyDir volumes of its pod), the same
# for every plan: a service writes no more scratch files in a bigger shop. The limit
# is above what the runtime pods' emptyDirs may hold (their sizeLimits in
# templates/deployments.yaml.j2: 512Mi /tmp + 1Gi data), so a full volume is refused
# a write before the kubelet would evict the pod. The LimitRange gives the same
# figures to containers the operator did not write (sidecars, debug pods).
EPHEMERAL_REQUEST: Final = {"ephemeral-storage": "256Mi"}
EPHEMERAL_LIMIT: Final = {"ephemeral-storage": "2Gi"}

PLANS: Final = MappingProxyType(
    {
        plan.name: plan
        for plan in (
            Plan(
                name="small",
                min_replicas=1,
                max_replicas=2,
                target_cpu_utilization=75,
                requests={"cpu": "50m", "memory": "64Mi", **EPHEMERAL_REQUEST},
                limits={"cpu": "250m", "memory": "256Mi", **EPHEMERAL_LIMIT},
                quota={
                    "requests.cpu": "2",
                    "requests.memory": "4Gi",
                    "limits.cpu": "8",
                    "limits.memory": "16Gi",
                    "pods": "40",
                    "services": "20",
                    "configmaps": "40",
                    "secrets": "40",
                    "persistentvolumeclaims": "4",
                },
                container_max={"cpu": "1", "memory": "1Gi"},
                pdb_max_unavailable=1,
                description="One replica per service, up to two; for trials and small shops.",
            ),
            Plan(
                name="standard",
                min_replicas=2,
                max_replicas=6,
                target_cpu_utilization=70,
                requests={"cpu": "100m", "memory": "128Mi", **EPHEMERAL_REQUEST},
                limits={"cpu": "500m", "memory": "512Mi", **EPHEMERAL_LIMIT},
                quota={
                    "requests.cpu": "8",
                    "requests.memory": "12Gi",
                    "limits.cpu": "32",
                    "limits.memory": "32Gi",
                    "pods": "100",
                    "services": "20",
                    "configmaps": "60",
                    "secrets": "60",
                    "persistentvolumeclaims": "10",
                },
                container_max={"cpu": "2", "memory": "2Gi"},
                pdb_max_unavailable=1,
                description="Two replicas per service, up to six; survives a node loss.",
                database_storage="10Gi",
                cache_storage="2Gi",
            ),
            Plan(
                name="large",
                min_replicas=3,
                max_replicas=20,
                target_cpu_utilization=65,
                requests={"cpu": "250m", "memory": "256Mi", **EPHEMERAL_REQUEST},
                limits={"cpu": "1", "memory": "1Gi", **EPHEMERAL_LIMIT},
                quota={
                    "requests.cpu": "48",
                    "requests.memory": "48Gi",
                    "limits.cpu": "192",
                    "limits.memory": "192Gi",
                    "pods": "250",
                    "services": "30",
                    "configmaps": "100",
                    "secrets": "100",
                    "persistentvolumeclaims": "20",
                },
                container_max={"cpu": "4", "memory": "8Gi"},
                pdb_max_unavailable="25%",
                description="Three replicas per service, up to twenty, for busy shops.",
                database_storage="50Gi",
                cache_storage="8Gi",
            ),
        )
    }
)


def plan_for(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; plans are {', '.join(PLANS)}") from None
