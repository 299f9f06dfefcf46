"""Generated credentials of the dev stack's servers, kept beside their data."""

from __future__ import annotations

import secrets
from pathlib import Path


def generated_password(path: Path) -> str:
    """The password stored at path, generated on first use; never committed."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password
