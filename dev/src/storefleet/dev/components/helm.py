"""helm, built from its Go module (dev/go/helm): a tool the tests run, not a server.

It is a component so that `stack install` builds it once into the cache with
everything else; `up` has nothing to start.
"""

from __future__ import annotations

from storefleet.dev.components.base import Component
from storefleet.dev.gobuild import GoTool

TOOL = GoTool(
    name="helm",
    module="helm.sh/helm/v3",
    commands={"helm": "helm.sh/helm/v3/cmd/helm"},
    ldflags=("-X helm.sh/helm/v3/internal/version.version={version}",),
)


class Helm(Component):
    name = "helm"

    @property
    def binary(self) -> str:
        return str(TOOL.binary("helm"))

    def install(self) -> None:
        TOOL.build()

    def up(self) -> None:
        self.install()

    def env(self) -> dict[str, str]:
        return {"STOREFLEET_HELM": self.binary}

    def describe(self) -> str:
        return f"{self.binary} ({TOOL.module} {TOOL.version})"
