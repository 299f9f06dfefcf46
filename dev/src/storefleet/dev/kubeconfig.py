"""Kubeconfig files for the local control plane's identities."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from storefleet.dev.pki import Pair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, *, server: str, ca: Path, client: Pair, user: str) -> Path:
    """A self-contained kubeconfig (certificates embedded), readable only by us."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "storefleet-dev",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [
            {"name": "storefleet-dev", "context": {"cluster": "storefleet-dev", "user": user}}
        ],
        "current-context": "storefleet-dev",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
