"""Installing crds/ into a cluster (server-side apply) and waiting until they are served."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes_asyncio import client

from storefleet.operator.kinds import Kind
from storefleet.operator.kube import Kube

CRD: Final = Kind(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False
)


def load(crds_dir: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(crds_dir.glob("*.yaml")):
        with path.open() as handle:
            found.extend(doc for doc in yaml.safe_load_all(handle) if doc)
    return found


async def install(api: client.ApiClient, crds_dir: Path, field_manager: str) -> list[str]:
    """Applies every CRD; returns their names once all are Established (callers bound the wait)."""
    kube = Kube(api)
    names = []
    for crd in load(crds_dir):
        await kube.apply(crd, field_manager, kind=CRD)
        names.append(str(crd["metadata"]["name"]))
    for name in names:
        await _wait_established(kube, name)
    return names


async def _wait_established(kube: Kube, name: str) -> None:
    # Polling: a watch for one condition flip is more machinery than it saves.
    for _ in range(600):
        if await _established(kube, name):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"CustomResourceDefinition {name} was not Established within 60s")


async def _established(kube: Kube, name: str) -> bool:
    found = await kube.get(CRD, None, name)
    conditions = ((found or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
