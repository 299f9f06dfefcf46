"""Servers that come from Debian's packages: installed by apt when missing."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


class MissingPackage(RuntimeError):
    """A Debian package is needed and cannot be installed by us."""


def ensure_packages(packages: list[str], present: Path | str) -> None:
    """Install `packages` with apt unless `present` (a file or a command) exists."""
    if Path(present).exists() or shutil.which(str(present)):
        return
    if os.geteuid() != 0:
        raise MissingPackage(
            f"{present} is missing; install it with: sudo apt-get install -y {' '.join(packages)}"
        )
    _apt_update()
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=_APT_ENV,
    )


@functools.cache
def _apt_update() -> None:
    """Once per process: a fresh machine's package lists may be empty or stale."""
    subprocess.run(["apt-get", "update", "-q"], check=True, env=_APT_ENV)
