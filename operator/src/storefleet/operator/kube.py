"""A small async Kubernetes client for what the operator does: apply, list, delete,
patch status and discover APIs. Built on kubernetes_asyncio's ApiClient, with
paths computed from the kinds table rather than one generated API class per group.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from storefleet.operator.kinds import STORE, Kind, kind_of


async def api_client() -> client.ApiClient:
    """A client of the cluster: the in-cluster service account, else the kubeconfig."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


_OBJECT = {200: "object", 201: "object", 202: "object"}


class KubeError(Exception):
    """An API call failed; message is the API server's, which says what is wrong."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retriable(self) -> bool:
        # 404: what the call refers to (a namespace being made, a Role a binding
        # names) is not there yet; the next attempt may find it.
        return self.status in (0, 404, 408, 409, 429) or self.status >= 500


def _error(exc: ApiException) -> KubeError:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return KubeError(
        int(exc.status or 0), str(body.get("reason") or exc.reason), body.get("message") or ""
    )


class Kube:
    def __init__(
        self, api: client.ApiClient, *, request_timeout: float = 60.0, discovery_ttl: float = 30.0
    ) -> None:
        self.api = api
        self.request_timeout = request_timeout
        self.discovery_ttl = discovery_ttl
        self._served: set[str] = set()
        self._served_at = -1e9

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            return await self.api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                response_types_map=_OBJECT,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            raise _error(exc) from None

    async def apply(
        self,
        obj: Mapping[str, Any],
        field_manager: str,
        *,
        dry_run: bool = False,
        kind: Kind | None = None,
    ) -> dict[str, Any]:
        """Server-side apply, taking ownership of conflicting fields (we are the controller)."""
        kind = kind or kind_of(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        query: list[tuple[str, Any]] = [
            ("fieldManager", field_manager),
            ("force", "true"),
            ("fieldValidation", "Strict"),
        ]
        if dry_run:
            query.append(("dryRun", "All"))
        result: dict[str, Any] = await self._call(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            query=query,
            body=dict(obj),
            content_type="application/apply-patch+yaml",
        )
        return result

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._call("GET", kind.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def list(
        self, kind: Kind, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        try:
            result = await self._call("GET", kind.path(namespace), query=query)
        except KubeError as exc:
            if exc.status == 404:  # the namespace or the API is gone: nothing to list
                return []
            raise
        items: list[dict[str, Any]] = result.get("items") or []
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, propagation: str = "Background"
    ) -> bool:
        """True if something was deleted; a missing object is not an error."""
        try:
            await self._call(
                "DELETE",
                kind.path(namespace, name),
                body={"propagationPolicy": propagation},
                content_type="application/json",
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def scale(
        self, kind: Kind, namespace: str, name: str, replicas: int, field_manager: str
    ) -> None:
        await self._call(
            "PATCH",
            kind.path(namespace, name) + "/scale",
            query=[("fieldManager", field_manager)],
            body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
        )

    async def patch_store_status(self, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH",
            STORE.path(None, name) + "/status",
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        return result

    async def patch_status(
        self, kind: Kind, namespace: str | None, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH",
            kind.path(namespace, name) + "/status",
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        return result

    async def annotate_store(self, name: str, annotations: Mapping[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH",
            STORE.path(None, name),
            body={"metadata": {"annotations": dict(annotations)}},
            content_type="application/merge-patch+json",
        )
        return result

    async def get_store(self, name: str) -> dict[str, Any] | None:
        return await self.get(STORE, None, name)

    async def served_api_versions(self, *, refresh: bool = False) -> set[str]:
        """group/version strings the cluster serves (core is "v1"), cached briefly."""
        if not refresh and time.monotonic() - self._served_at < self.discovery_ttl:
            return self._served
        groups = await self._call("GET", "/apis")
        served = {"v1"}
        for group in groups.get("groups") or []:
            served.update(v["groupVersion"] for v in group.get("versions") or [])
        self._served, self._served_at = served, time.monotonic()
        return served

    async def post_event(self, event: Mapping[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        await self._call(
            "POST",
            f"/api/v1/namespaces/{namespace}/events",
            body=dict(event),
            content_type="application/json",
        )
