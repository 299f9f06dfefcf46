"""Kubernetes Events about Stores, so `kubectl describe store` tells the story.

Posting an Event must never fail a reconcile: failures are logged and dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp

from storefleet.operator.kube import Kube, KubeError

log = logging.getLogger("storefleet.operator.events")

COMPONENT = "storefleet-operator"
# Events of cluster-scoped objects live in "default", as kubectl and Kopf expect.
EVENTS_NAMESPACE = "default"
_MESSAGE_LIMIT = 1024


def build_event(
    store: Mapping[str, Any], event_type: Literal["Normal", "Warning"], reason: str, message: str
) -> dict[str, Any]:
    meta = store["metadata"]
    # A namespaced object's Events live in its namespace (a Vendor's in its store's).
    namespace = meta.get("namespace") or EVENTS_NAMESPACE
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": store.get("apiVersion", "storefleet.io/v1alpha1"),
            "kind": store.get("kind", "Store"),
            "name": meta["name"],
            "uid": meta.get("uid"),
            **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
        },
        "type": event_type,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def post(
    kube: Kube,
    store: Mapping[str, Any],
    event_type: Literal["Normal", "Warning"],
    reason: str,
    message: str,
) -> None:
    log.info(
        "event %s %s: %s",
        event_type,
        reason,
        message,
        extra={"store": store["metadata"]["name"], "reason": reason},
    )
    try:
        await kube.post_event(build_event(store, event_type, reason, message))
    except (KubeError, OSError, aiohttp.ClientError) as exc:
        log.warning("could not post event %s: %s", reason, exc)
