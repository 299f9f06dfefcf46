"""Build Go commands once, from a committed go.mod, into the versioned cache.

Each tool the stack needs (the Kubernetes control plane, KWOK, ...) has a
folder under dev/go/ whose go.mod and go.sum pin exactly what gets built, so a
build is reproducible and the Go module proxy is the only source. Binaries go to
`~/.cache/storefleet/<name>-<version>/bin`; a later run finds them and builds
nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storefleet.dev.paths import cache_dir, cache_lock, go_module_dir


class BuildError(RuntimeError):
    """A Go build failed; the message names the package."""


@dataclass(frozen=True)
class GoTool:
    """Commands built from one module folder under dev/go/."""

    name: str
    module: str  # the module whose version names the cache entry
    commands: Mapping[str, str]  # binary name -> Go package
    # Linker flags; "{version}", "{major}" and "{minor}" are filled in from go.mod.
    ldflags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def module_dir(self) -> Path:
        return go_module_dir(self.name)

    @property
    def version(self) -> str:
        """The version go.mod requires of `module`: the cache key."""
        text = (self.module_dir / "go.mod").read_text()
        match = re.search(rf"^\s*(?:require\s+)?{re.escape(self.module)}\s+(v\S+)", text, re.M)
        if not match:
            raise BuildError(f"{self.module_dir}/go.mod does not require {self.module}")
        return match.group(1)

    @property
    def bin_dir(self) -> Path:
        return cache_dir(self.name, self.version) / "bin"

    def binary(self, command: str) -> Path:
        return self.bin_dir / command

    def built(self) -> bool:
        return all(os.access(self.binary(cmd), os.X_OK) for cmd in self.commands)

    def build(self) -> Path:
        """Build every missing command; return the bin directory."""
        if self.built():
            return self.bin_dir
        go = shutil.which("go")
        if go is None:
            raise BuildError("the `go` command is needed to build the dev stack; install Go")
        with cache_lock(self.name):
            if self.built():
                return self.bin_dir
            self.bin_dir.mkdir(parents=True, exist_ok=True)
            goflags = f"{os.environ.get('GOFLAGS', '')} -trimpath -buildvcs=false".strip()
            env = {**os.environ, "GOFLAGS": goflags}
            for command, package in self.commands.items():
                target = self.binary(command)
                if os.access(target, os.X_OK):
                    continue
                started = time.monotonic()
                print(f"building {command} ({self.module} {self.version}) ...", file=sys.stderr)
                partial = target.with_name(f"{command}.partial")
                argv = [go, "build", "-ldflags", self._ldflags()]
                argv += ["-o", str(partial), package]
                result = subprocess.run(argv, cwd=self.module_dir, env=env, check=False)
                if result.returncode != 0:
                    raise BuildError(f"go build {package} failed (exit {result.returncode})")
                # Renamed only once complete, so an interrupted build is redone.
                partial.replace(target)
                elapsed = time.monotonic() - started
                print(f"built {command} in {elapsed:.0f}s", file=sys.stderr)
        return self.bin_dir

    def source_dir(self) -> Path:
        """The module's source in Go's module cache (downloaded if missing):
        for files a command reads at run time, such as templates."""
        go = shutil.which("go") or "go"
        result = subprocess.run(
            [go, "mod", "download", "-json", self.module],
            cwd=self.module_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        info = json.loads(result.stdout or "{}")
        if result.returncode != 0 or "Dir" not in info:
            raise BuildError(f"go mod download {self.module}: {info.get('Error', result.stderr)}")
        return Path(info["Dir"])

    def _ldflags(self) -> str:
        major, minor = self.version.lstrip("v").split(".")[:2]
        flags = [
            flag.format(version=self.version, major=major, minor=minor) for flag in self.ldflags
        ]
        return " ".join(["-s", "-w", *flags])
