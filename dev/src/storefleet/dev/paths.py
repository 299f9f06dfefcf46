"""Where the dev stack keeps what it builds and what it runs.

Builds are slow and never change for a given version, so they live in a cache
keyed by version (`~/.cache/storefleet/<name>-<version>/`) that survives runs.
Running servers keep their data, logs and pid files in a state directory that
`stack down` may throw away. Both can be moved with environment variables.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

# The dev part's folder (dev/src/storefleet/dev/ is three below it), which holds
# the Go modules (go/) and Maven projects (maven/) the stack builds from, and the
# repository that holds it. The stack runs from a checkout, never from a wheel.
PART: Final = Path(__file__).resolve().parents[3]
REPOSITORY: Final = PART.parent


def cache_root() -> Path:
    base = os.environ.get("STOREFLEET_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "storefleet"


def cache_dir(name: str, version: str) -> Path:
    return cache_root() / f"{name}-{version}"


def state_root() -> Path:
    """The running stack's files.

    Under /tmp rather than the home directory because, when run as root, the
    PostgreSQL server must run as an unprivileged user that cannot enter /root.
    Where /tmp itself is closed to other users (mode 700), under /var/tmp, which
    the same user can enter.
    """
    base = os.environ.get("STOREFLEET_STACK_DIR")
    if base:
        return Path(base)
    name = f"storefleet-stack-{os.getuid()}"
    for parent in (Path("/tmp"), Path("/var/tmp")):
        if parent.is_dir() and parent.stat().st_mode & 0o001:
            return parent / name
    return Path("/tmp") / name


def state_dir(component: str) -> Path:
    path = state_root() / component
    path.mkdir(parents=True, exist_ok=True)
    return path


def go_module_dir(name: str) -> Path:
    """The committed go.mod that pins what `name` builds (dev/go/<name>/)."""
    return PART / "go" / name


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Held while a cache entry is made: two runs filling it at once would race."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
