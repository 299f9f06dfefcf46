"""Files only the service's own user may read: embedded databases with password
hashes and MFA secrets, mail written to disk, keys.

Each file is created with mode 0600 (never world-readable, not even for a
moment) in a folder of mode 0700; files and folders that exist already (made
by an older version) are tightened when the service starts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from storefleet.runtime.platform.storage.db import normalize_url

log = logging.getLogger(__name__)
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
# What SQLite keeps beside a database; it gives them the database's own mode.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    try:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError as exc:  # not ours (a volume's root, say): say so, don't fail
        log.warning("cannot make %s private: %s", path, exc)


def private_directory(path: Path) -> Path:
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _tighten(path, DIRECTORY_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, which only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), FILE_MODE)  # an older file may have had another mode
        file.write(data)


def private_sqlite(url: str) -> None:
    """The SQLite database of ``url`` (if that is one) and its folder, owner-only;
    the file is made empty with mode 0600 before SQLite opens it."""
    parsed = make_url(normalize_url(url))
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    path = Path(database)
    private_directory(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion, FILE_MODE)
