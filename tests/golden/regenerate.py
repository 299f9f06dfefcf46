"""Golden manifests: what `storefleet operator render` prints for a few Stores.

Each case is a Store (an example from examples/, with a pinned uid and generation)
rendered with the operator's default settings, with or without Istio's APIs. The
output is checked in as tests/golden/<case>.yaml and
tests/unit/operator/test_golden_manifests.py compares a fresh render with it, so
a change to a template or to desired.build shows up as a diff of the objects a
tenant gets.

After a deliberate change, regenerate and review what moved:

    .venv/bin/python tests/golden/regenerate.py
    git diff tests/golden/
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from storefleet.operator.commands import cli

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parents[1]
REGENERATE = "python tests/golden/regenerate.py"
# What the API server would have given the Store: pinned, so that the owner
# references in the goldens do not change from one render to the next.
UID = "5a1e6a4e-0000-4000-8000-000000000001"
GENERATION = 1


@dataclass(frozen=True)
class Case:
    name: str
    example: str  # a file in examples/
    istio: bool  # render as if the cluster served Istio's APIs
    spec: Mapping[str, Any] = field(default_factory=dict)  # changes to the example's spec

    @property
    def path(self) -> Path:
        return GOLDEN / f"{self.name}.yaml"


CASES: tuple[Case, ...] = (
    Case("minimal", "store.yaml", istio=False),
    Case("minimal-plan-large", "store.yaml", istio=False, spec={"plan": "large"}),
    Case("full-ingress", "store-full.yaml", istio=False),
    Case("full-istio", "store-full.yaml", istio=True),
    # What `make run` applies: the in-namespace PostgreSQL and Redis, the seed Job.
    Case("demo", "store-demo.yaml", istio=False),
)


def store_of(case: Case) -> dict[str, Any]:
    store: dict[str, Any] = yaml.safe_load((ROOT / "examples" / case.example).read_text())
    store["metadata"]["uid"] = UID
    store["metadata"]["generation"] = GENERATION
    store["spec"].update(copy.deepcopy(dict(case.spec)))
    return store


def header(case: Case) -> str:
    changes = f" with spec {dict(case.spec)}" if case.spec else ""
    routing = "--istio" if case.istio else "--no-istio"
    return (
        f"# storefleet operator render {routing}: examples/{case.example}{changes}, "
        f"uid {UID}, default settings.\n"
        f"# Generated: do not edit. After a deliberate change run `{REGENERATE}`.\n"
    )


def render(case: Case) -> str:
    """The golden text of a case: its header, then what the render command prints."""
    # Settings come from STOREFLEET_* variables: render with none, as the defaults.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STOREFLEET_")}
    result = CliRunner().invoke(
        cli,
        ["render", "-", "--istio" if case.istio else "--no-istio"],
        input=yaml.safe_dump(store_of(case), sort_keys=False),
        env=unset,
    )
    if result.exit_code != 0:
        raise RuntimeError(f"render of {case.name} failed: {result.output}")
    return header(case) + result.output


def main() -> int:
    wanted = {case.path for case in CASES}
    for stale in sorted(set(GOLDEN.glob("*.yaml")) - wanted):
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}")
    for case in CASES:
        text = render(case)
        before = case.path.read_text() if case.path.exists() else None
        case.path.write_text(text)
        state = "unchanged" if before == text else ("written" if before is None else "changed")
        print(f"{case.path.relative_to(ROOT)}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
