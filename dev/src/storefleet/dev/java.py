"""Find an installed JDK new enough for a Java server (Kafka, Keycloak).

Machines carry more than one JDK (Debian's OpenJDK and a newer Temurin beside
it), and the servers need different minimums, so each asks for the oldest major
version it runs on and gets the newest installed one that qualifies.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

JVM_ROOTS = (Path("/usr/lib/jvm"), Path("/opt/java"))


class JavaNotFound(RuntimeError):
    """No installed JDK is new enough."""


def _major(home: Path) -> int | None:
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)', text, re.M)
    return int(match.group(1)) if match else None


def _candidates() -> list[Path]:
    homes: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    for root in JVM_ROOTS:
        if root.is_dir():
            homes += sorted(path for path in root.iterdir() if not path.is_symlink())
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    return homes


def java_home(minimum: int) -> Path:
    """The newest installed JDK whose major version is at least `minimum`."""
    found = {
        home: major
        for home in _candidates()
        if (major := _major(home)) is not None and (home / "bin" / "java").exists()
    }
    fitting = [home for home, major in found.items() if major >= minimum]
    if not fitting:
        seen = ", ".join(f"{home} ({major})" for home, major in found.items()) or "none"
        raise JavaNotFound(f"a JDK {minimum} or newer is needed; installed: {seen}")
    return max(fitting, key=lambda home: found[home])


def java(minimum: int) -> Path:
    return java_home(minimum) / "bin" / "java"
