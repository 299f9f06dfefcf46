"""Every example manifest is accepted by the API server as it is: the Stores and the
Vendor by Storefleet's CRDs (schema and CEL rules), the Argo CD Applications by
Argo CD's own CRD. Server-side dry run: validated and defaulted, nothing stored."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient

from storefleet.dev.components.kubernetes import Kubernetes

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(
    p for p in (ROOT / "examples").rglob("*.yaml") if p.name not in {"kind.yaml", "argocd-cm.yaml"}
)


@pytest.fixture(scope="module")
def cluster(platform_crds: ApiClient, kube_config: str) -> Iterator[str]:
    """The control plane with Storefleet's CRDs (and Argo CD's) served, and the
    namespace the example Vendor lives in."""
    subprocess.run(
        [str(Path(sys.executable).parent / "storefleet"), "operator", "install-crds"],
        env={**os.environ, "KUBECONFIG": kube_config},
        check=True,
        timeout=120,
    )
    core = client.CoreV1Api(platform_crds)
    made = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            namespace = (doc or {}).get("metadata", {}).get("namespace")
            if namespace and namespace not in made:
                try:
                    core.create_namespace({"metadata": {"name": namespace}})
                    made.append(namespace)
                except client.ApiException as exc:
                    if exc.status != 409:
                        raise
    yield kube_config
    for namespace in made:
        core.delete_namespace(namespace)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_is_accepted_by_the_api_server(cluster: str, path: Path) -> None:
    result = Kubernetes().kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager=examples-{secrets.token_hex(2)}",
        "-f",
        str(path),
    )
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
