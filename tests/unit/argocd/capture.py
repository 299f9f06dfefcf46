"""Rewrite tests/unit/argocd/fixtures/ from Stores the operator reconciles now.

Runs tests/integration/operator/test_argocd_health.py against the local control
plane (started on demand, as for any integration test) with the capture switched
on; review the diff of the fixtures before committing them:

    .venv/bin/python tests/unit/argocd/capture.py
    git diff tests/unit/argocd/fixtures/
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from argocd_health import CAPTURE_ENV, ROOT

TEST = "tests/integration/operator/test_argocd_health.py"


def main() -> int:
    pytest = Path(sys.executable).parent / "pytest"
    env = {**os.environ, CAPTURE_ENV: "1"}
    return subprocess.run([str(pytest), "-q", TEST, *sys.argv[1:]], env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
