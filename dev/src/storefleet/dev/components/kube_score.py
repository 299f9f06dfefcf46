"""kube-score, built from its Go module (dev/go/kube-score): a tool the tests run
on the objects the example Stores render to, not a server.

It is a component so that `stack install` builds it once into the cache with
everything else; `up` has nothing to start.
"""

from __future__ import annotations

from storefleet.dev.components.base import Component
from storefleet.dev.gobuild import GoTool

TOOL = GoTool(
    name="kube-score",
    module="github.com/zegl/kube-score",
    commands={"kube-score": "github.com/zegl/kube-score/cmd/kube-score"},
    ldflags=("-X main.version={version}",),
)


class KubeScore(Component):
    name = "kube-score"

    @property
    def binary(self) -> str:
        return str(TOOL.binary("kube-score"))

    def install(self) -> None:
        TOOL.build()

    def up(self) -> None:
        self.install()

    def env(self) -> dict[str, str]:
        return {"STOREFLEET_KUBE_SCORE": self.binary}

    def describe(self) -> str:
        return f"{self.binary} ({TOOL.module} {TOOL.version})"
