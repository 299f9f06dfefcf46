"""Resolve Java servers from Maven Central, once, into the versioned cache.

Each server the stack runs from Maven artifacts (Kafka, Keycloak) has a
committed pom under dev/maven/<name>/ that pins exactly what it needs; Maven's
dependency plugin copies those artifacts into
`~/.cache/storefleet/<name>-<version>/lib`. The pom's own version names the
cache entry, so changing what is pinned means bumping it. Maven's local
repository also lives in the cache, so nothing outside it is touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from storefleet.dev.paths import PART, cache_dir, cache_lock, cache_root

_POM = "{http://maven.apache.org/POM/4.0.0}"


class ResolveError(RuntimeError):
    """Maven could not resolve what a pom asks for."""


@dataclass(frozen=True)
class MavenArtifacts:
    """The artifacts one committed pom (dev/maven/<name>/pom.xml) depends on."""

    name: str

    @property
    def pom(self) -> Path:
        return PART / "maven" / self.name / "pom.xml"

    @property
    def version(self) -> str:
        version = ET.parse(self.pom).getroot().findtext(f"{_POM}version")
        if not version:
            raise ResolveError(f"{self.pom} has no <version>")
        return version

    @property
    def directory(self) -> Path:
        return cache_dir(self.name, self.version)

    @property
    def lib_dir(self) -> Path:
        return self.directory / "lib"

    def resolved(self) -> bool:
        return self.lib_dir.is_dir()

    def resolve(self) -> Path:
        """Copy every artifact the pom needs into lib/; return that directory."""
        if self.resolved():
            return self.lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ResolveError("the `mvn` command is needed for the dev stack; install Maven")
        with cache_lock(self.name):
            if self.resolved():
                return self.lib_dir
            partial = self.directory / "lib.partial"
            shutil.rmtree(partial, ignore_errors=True)
            started = time.monotonic()
            print(f"resolving {self.name} {self.version} from Maven Central ...", file=sys.stderr)
            argv = [
                mvn,
                "--batch-mode",
                "--quiet",
                "--file", str(self.pom),
                f"-Dmaven.repo.local={cache_root() / 'maven-repository'}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={partial}",
                "-DincludeScope=runtime",
            ]  # fmt: skip
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ResolveError(
                    f"resolving {self.pom} failed (exit {result.returncode}):\n"
                    f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
                )
            # Renamed only once complete, so an interrupted download is redone.
            partial.replace(self.lib_dir)
            print(f"resolved {self.name} in {time.monotonic() - started:.0f}s", file=sys.stderr)
        return self.lib_dir
