"""Applying a Store's objects with server-side apply, and pruning what it no longer wants.

Objects are found for pruning by label (storefleet.io/store and managed-by), so
an object the operator stopped rendering is deleted even after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from storefleet.operator.desired import MANAGED_BY, MANAGED_BY_LABEL, STORE_LABEL
from storefleet.operator.kinds import KINDS, Kind, kind_of
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.render import ObjectKey, key_of


@dataclass
class ApplyReport:
    applied: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    failed: dict[ObjectKey, KubeError] = field(default_factory=dict)
    # objects someone else deleted or changed since our last apply, now restored
    drifted: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)
    # objects whose immutable fields changed, deleted (orphaning their pods) and made anew
    recreated: list[ObjectKey] = field(default_factory=list)


# Kinds applied before the others, in order. A RoleBinding is only allowed if the
# operator holds every permission of its Role, which the API server cannot check
# before the Role exists: applied together, the binding is refused as "not found".
WAVES: Final[tuple[frozenset[str], ...]] = (frozenset({"Role", "ServiceAccount"}),)


# Kinds the API server refuses to change in some fields (a StatefulSet's
# serviceName, selector or volumeClaimTemplates): when a new version of the
# operator renders such a change, the object is deleted with its dependents
# orphaned and applied anew; the new one adopts the same pods and volumes.
RECREATABLE: Final[dict[str, str]] = {
    "StatefulSet": "Forbidden: updates to statefulset spec for fields other than",
}
RECREATE_WAIT_SECONDS: Final = 60.0


def _wave_of(kind: str) -> int:
    return next((index for index, kinds in enumerate(WAVES) if kind in kinds), len(WAVES))


def _digest(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class Applier:
    def __init__(self, kube: Kube, field_manager: str, concurrency: int) -> None:
        self.kube = kube
        self.field_manager = field_manager
        # Shared by every Store: 20 Stores applying 8 objects each at once filled the API
        # server's in-flight limit and Service creates timed out waiting for their IPs.
        self._in_flight = asyncio.Semaphore(concurrency)
        # per object, from the last apply: (desired digest, uid, time our field manager last
        # changed it). Status writes by controllers bump resourceVersion but not that time.
        self._last: dict[ObjectKey, tuple[str, str, str]] = {}
        self._generations: dict[ObjectKey, int] = {}

    def changed_since_applied(self, obj: Mapping[str, Any]) -> bool:
        """Whether an object's spec moved past what our last apply left.

        Objects this process has not applied yet count as unchanged: the resume
        handler's full reconcile covers them.
        """
        generation = int(obj["metadata"].get("generation") or 0)
        applied = self._generations.get(key_of(obj))
        return applied is not None and applied != generation

    async def apply(self, objects: list[dict[str, Any]]) -> ApplyReport:
        """Applies the first object (the namespace), then the rest in WAVES, each wave
        concurrently: what other objects refer to exists before they are applied."""
        report = ApplyReport()
        if not objects:
            return report
        await self._apply_one(objects[0], report)
        if report.failed:
            return report
        waves: list[list[dict[str, Any]]] = [[] for _ in range(len(WAVES) + 1)]
        for obj in objects[1:]:
            waves[_wave_of(obj["kind"])].append(obj)
        for wave in waves:
            await asyncio.gather(*(self._apply_one(obj, report) for obj in wave))
        return report

    async def _apply_one(self, obj: dict[str, Any], report: ApplyReport) -> None:
        key = key_of(obj)
        digest = _digest(obj)
        try:
            async with self._in_flight:
                try:
                    result = await self.kube.apply(obj, self.field_manager)
                except KubeError as exc:
                    if not self._immutable(obj, exc):
                        raise
                    result = await self._recreate(obj)
                    report.recreated.append(key)
        except KubeError as exc:
            report.failed[key] = exc
            return
        report.applied[key] = result
        meta = result.get("metadata", {})
        now = (digest, str(meta.get("uid")), self._applied_at(meta))
        before = self._last.get(key)
        # Same desired object, yet a new uid, or our apply had to change it again:
        # someone else deleted it or edited fields we own.
        if before is not None and before[0] == digest and before[1:] != now[1:]:
            report.drifted.append(key)
        self._last[key] = now
        self._generations[key] = int(meta.get("generation") or 0)

    @staticmethod
    def _immutable(obj: Mapping[str, Any], error: KubeError) -> bool:
        refusal = RECREATABLE.get(obj["kind"])
        return refusal is not None and error.status == 422 and refusal in error.message

    async def _recreate(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        key = key_of(obj)
        kind = kind_of(obj["apiVersion"], obj["kind"])
        await self.kube.delete(kind, key.namespace, key.name, propagation="Orphan")
        # The garbage collector releases the dependents, then the object goes.
        deadline = asyncio.get_running_loop().time() + RECREATE_WAIT_SECONDS
        while await self.kube.get(kind, key.namespace, key.name) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise KubeError(
                    409, "Conflict", f"{key} was deleted to be recreated but is still there"
                )
            await asyncio.sleep(0.5)
        return await self.kube.apply(obj, self.field_manager, kind=kind)

    def _applied_at(self, meta: Mapping[str, Any]) -> str:
        for entry in meta.get("managedFields") or []:
            if entry.get("manager") == self.field_manager and entry.get("operation") == "Apply":
                return str(entry.get("time"))
        return ""

    async def prune(
        self,
        store_name: str,
        namespace: str,
        wanted: Iterable[ObjectKey],
        kinds: Iterable[Kind],
        report: ApplyReport,
    ) -> None:
        keep = set(wanted)
        selector = f"{STORE_LABEL}={store_name},{MANAGED_BY_LABEL}={MANAGED_BY}"
        listings = await asyncio.gather(
            *(
                self.kube.list(kind, namespace if kind.namespaced else None, selector)
                for kind in kinds
            )
        )
        doomed = [
            (kind, item)
            for kind, items in zip(kinds, listings, strict=True)
            for item in items
            if key_of(item) not in keep and not item["metadata"].get("deletionTimestamp")
        ]
        for kind, item in doomed:
            key = key_of(item)
            if await self.kube.delete(kind, key.namespace, key.name):
                report.pruned.append(key)
            self._last.pop(key, None)
            self._generations.pop(key, None)

    def forget(self, namespace: str) -> None:
        for key in [k for k in self._last if k.namespace == namespace or k.name == namespace]:
            del self._last[key]
            self._generations.pop(key, None)


def prunable_kinds(served: set[str]) -> list[Kind]:
    """Namespaced kinds the operator owns and the cluster serves; namespaces are not pruned."""
    return [kind for kind in KINDS if kind.namespaced and kind.api_version in served]
