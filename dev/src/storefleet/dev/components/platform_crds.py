"""The CustomResourceDefinitions of the platform Storefleet runs on: Istio and Argo CD.

Neither Istio nor Argo CD runs here; their CRDs are installed into the local
control plane so that the operator's VirtualServices, DestinationRules,
Gateways, PeerAuthentications, AuthorizationPolicies and Argo CD Applications
are checked against their real schemas by a real API server. The YAML comes
from the projects' own Go modules on the module proxy:

- istio.io/api ships the generated CRDs of every Istio API in
  kubernetes/customresourcedefinitions.gen.yaml;
- github.com/argoproj/argo-cd/v3 ships manifests/crds/ (the Application and
  AppProject CRDs are installed; ApplicationSet is not needed yet).

Each file is copied once into `~/.cache/storefleet/<module>-<version>/`.
There is no server process: the component is "running" when its CRDs are
established, and stopping it leaves them, as they live in the cluster's etcd.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.gomodule import module_dir
from storefleet.dev.paths import cache_dir


@dataclass(frozen=True)
class CrdSource:
    """CRD files inside one Go module at one version."""

    name: str  # names the cache entry
    module: str
    version: str
    files: tuple[str, ...]

    @property
    def directory(self) -> Path:
        return cache_dir(self.name, self.version)

    def paths(self) -> list[Path]:
        return [self.directory / Path(file).name for file in self.files]

    def fetch(self) -> list[Path]:
        if all(path.exists() for path in self.paths()):
            return self.paths()
        source = module_dir(self.module, self.version)
        self.directory.mkdir(parents=True, exist_ok=True)
        for file, target in zip(self.files, self.paths(), strict=True):
            partial = target.with_name(f"{target.name}.partial")
            shutil.copyfile(source / file, partial)
            partial.replace(target)
        return self.paths()


SOURCES = (
    CrdSource(
        name="istio-api",
        module="istio.io/api",
        version="v1.31.4",
        files=("kubernetes/customresourcedefinitions.gen.yaml",),
    ),
    CrdSource(
        name="argo-cd",
        module="github.com/argoproj/argo-cd/v3",
        # The newest release whose go.mod the machine's Go (1.26) accepts.
        version="v3.5.7",
        files=("manifests/crds/application-crd.yaml", "manifests/crds/appproject-crd.yaml"),
    ),
)


def crd_names(path: Path) -> list[str]:
    """The CRDs a file defines, remembered beside it: parsing megabytes of YAML is slow."""
    remembered = path.with_name(f"{path.name}.names")
    if remembered.exists():
        return remembered.read_text().split()
    with open(path) as handle:
        names = [
            document["metadata"]["name"]
            for document in yaml.load_all(handle, Loader=yaml.CSafeLoader)
            if document and document.get("kind") == "CustomResourceDefinition"
        ]
    remembered.write_text("\n".join(names) + "\n")
    return names


class PlatformCrds(Component):
    name = "platform-crds"
    requires = ("kubernetes",)

    def __init__(self) -> None:
        self.cluster = Kubernetes()

    def install(self) -> None:
        for source in SOURCES:
            source.fetch()

    def files(self) -> list[Path]:
        return [path for source in SOURCES for path in source.paths()]

    def names(self) -> list[str]:
        return [name for path in self.files() for name in crd_names(path)]

    def up(self) -> None:
        self.install()
        if self.running():
            return
        for path in self.files():
            # Server-side: the Argo CD CRDs are too large for the annotation
            # that a client-side apply keeps.
            applied = self.cluster.kubectl(
                "apply", "--server-side", "--force-conflicts",
                "--field-manager=storefleet-dev", "-f", str(path),
            )  # fmt: skip
            if applied.returncode != 0:
                raise RuntimeError(f"applying {path.name} failed: {applied.stderr.strip()}")
        established = self.cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            *(f"crd/{name}" for name in self.names()),
        )  # fmt: skip
        if established.returncode != 0:
            raise RuntimeError(f"CRDs not established: {established.stderr.strip()}")

    def running(self) -> bool:
        if not self.cluster.running() or not all(path.exists() for path in self.files()):
            return False
        names = self.names()
        listed = self.cluster.kubectl("get", "crd", "-o", "name", *names)
        return listed.returncode == 0 and len(listed.stdout.split()) == len(names)

    def down(self) -> list[str]:
        return []

    def env(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        versions = ", ".join(f"{source.module} {source.version}" for source in SOURCES)
        return f"Istio and Argo CD CRDs ({versions})"
