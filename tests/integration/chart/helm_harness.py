"""The operator's chart and the dev stack's Helm, for the chart's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHART = Path(__file__).resolve().parents[3] / "charts" / "storefleet-operator"
KUBE_VERSION = "1.35.4"


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    # `template` assumes an old Kubernetes unless told; the chart needs 1.28+.
    extra = ["--kube-version", KUBE_VERSION] if args[0] == "template" else []
    return subprocess.run(
        [helm, *args, *extra], capture_output=True, text=True, check=False, timeout=120
    )
