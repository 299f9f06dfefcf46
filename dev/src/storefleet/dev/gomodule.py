"""Fetch files that a Go module ships (not code to build) from the module proxy.

Some projects publish what the stack needs — CustomResourceDefinition YAML —
inside their Go modules. `go mod download` fetches one module zip at an exact
version, checked against the checksum database, without resolving or building
anything else, so it works even for a module whose code would not build here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path


class DownloadError(RuntimeError):
    """`go mod download` could not fetch a module."""


def module_dir(module: str, version: str) -> Path:
    """The unpacked module in Go's module cache, downloading it if needed."""
    go = shutil.which("go")
    if go is None:
        raise DownloadError("the `go` command is needed to fetch Go modules; install Go")
    # Outside any module, so no go.mod around us is consulted or changed.
    with tempfile.TemporaryDirectory() as outside:
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=outside,
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Error" in info or "Dir" not in info:
        reason = info.get("Error") or result.stderr.strip() or f"exit {result.returncode}"
        raise DownloadError(f"go mod download {module}@{version}: {reason}")
    return Path(info["Dir"])
