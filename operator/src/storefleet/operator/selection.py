"""Which Stores and Vendors an operator instance serves: its label selector and the
finalizer that goes with it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

FINALIZER: Final = "storefleet.io/finalizer"
# Kopf's own annotations (progress, diff base); not storefleet.io, see kopf_config.
KOPF_PREFIX: Final = "kopf.storefleet.io"


def finalizer_for(selector: str) -> str:
    """The finalizer of an operator instance: its own when it serves a selector.

    Kopf removes its finalizer from objects its filters no longer match, so
    instances sharing one name (a sharded fleet, two test runs) would strip each
    other's from the Stores they do not serve and let those go uncleaned."""
    wanted = selector_labels(selector)
    if wanted is None:
        return FINALIZER
    canonical = ",".join(f"{key}={value}" for key, value in sorted(wanted.items()))
    return f"{FINALIZER}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def selector_labels(selector: str) -> dict[str, str] | None:
    """ "a=b,c=d" -> {"a": "b", "c": "d"}; "" -> None (every Store)."""
    if not selector.strip():
        return None
    pairs = (part.split("=", 1) for part in selector.split(",") if part.strip())
    return {key.strip(): value.strip() for key, value in pairs}


def picks(selected: Mapping[str, str] | None, body: Mapping[str, Any]) -> bool:
    """Whether an instance with these selector labels serves the object (owned
    Deployments are watched for every Store; another instance may serve this one)."""
    if selected is None:
        return True
    labels = body["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in selected.items())
