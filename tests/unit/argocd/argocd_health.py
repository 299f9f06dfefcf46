"""Argo CD's health script for Stores run in Lua 5.1 (what Argo CD embeds), the Store
states it is tested on, and how a Store captured from the operator becomes a fixture.

tests/unit/argocd/test_health_lua.py runs the script on the fixtures;
tests/integration/operator/test_argocd_health.py drives a Store through the states
on the local control plane, checks the script on the live objects and, with
STOREFLEET_CAPTURE_ARGOCD_FIXTURES=1 (what tests/unit/argocd/capture.py sets), writes
them here as the fixtures.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Final

from lupa import lua51

ROOT: Final = Path(__file__).resolve().parents[3]
SCRIPT: Final = (ROOT / "examples" / "argocd" / "health.lua").read_text()
FIXTURES: Final = Path(__file__).resolve().parent / "fixtures"
CAPTURE_ENV: Final = "STOREFLEET_CAPTURE_ARGOCD_FIXTURES"

# fixture -> (Argo CD health status, a part of its message)
EXPECTED: Final[dict[str, tuple[str, str]]] = {
    "new": ("Progressing", "Waiting for the Storefleet operator"),
    "provisioning": ("Progressing", "Provisioning: waiting for RuntimeReady"),
    "ready": ("Healthy", "Ready: the store is serving"),
    "spec-changed": ("Progressing", "observe generation 2"),
    "suspended": ("Suspended", "Suspended"),
    "degraded": ("Degraded", "Degraded: waiting for RuntimeReady: waiting for cart (0/1 ready)"),
    "deleting": ("Progressing", "Being deleted"),
}

# What a fixture says in place of what varies from one capture to the next.
NAME: Final = "acme"
UID: Final = "5a1e6a4e-0000-4000-8000-000000000002"
TIMESTAMP: Final = "2026-01-01T00:00:00Z"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def as_fixture(store: dict[str, Any], drop_labels: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Store as the API server returned it, with what varies by run pinned: its name
    (and so its namespace), uid, resourceVersion, timestamps; managedFields dropped."""
    obj = copy.deepcopy(store)
    meta = obj["metadata"]
    name = meta["name"]
    meta.pop("managedFields", None)
    meta["uid"], meta["resourceVersion"] = UID, "1"
    for label in drop_labels:
        (meta.get("labels") or {}).pop(label, None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    text = json.dumps(obj, sort_keys=True)
    text = re.sub(rf"\b{re.escape(name)}\b", NAME, text)
    pinned: dict[str, Any] = _pin_timestamps(json.loads(text))
    return pinned


def _pin_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pin_timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pin_timestamps(v) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return TIMESTAMP
    return value


def write_fixture(name: str, store: dict[str, Any]) -> None:
    (FIXTURES / f"{name}.json").write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
