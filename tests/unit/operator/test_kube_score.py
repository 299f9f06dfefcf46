"""A third party's reading of what we render: kube-score on the example Stores.

Each case of tests/golden/regenerate.py (the minimal, demo and full examples, with
and without Istio) is rendered fresh and scored by kube-score, built once from its
Go module (dev/go/kube-score) into the cache. Any finding that
tests/kube-score-exceptions.yaml does not list with its reason fails the test, so
a template change that a reviewer outside the project would flag shows up here.
Needs no server: kube-score reads manifests only. Under CI (CI=true) a kube-score
that cannot be built fails the run; elsewhere these tests skip and say why.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from storefleet.dev.components.kube_score import TOOL
from storefleet.dev.gobuild import BuildError

ROOT = Path(__file__).resolve().parents[3]
EXCEPTIONS = ROOT / "tests" / "kube-score-exceptions.yaml"
# The control plane's version (dev/go/kubernetes): kube-score's checks follow it.
KUBERNETES_VERSION = "v1.35"
# kube-score's grades: 10 all OK, 7 almost OK, 5 warning, 1 critical.
ALL_OK = 10


def _goldens() -> ModuleType:
    """tests/golden/regenerate.py, which is a script and not on the import path."""
    name = "storefleet_golden_cases"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests/golden/regenerate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


GOLDENS = _goldens()


@dataclass(frozen=True)
class Finding:
    case: str
    kind: str
    name: str
    check: str
    grade: int
    summary: str

    def __str__(self) -> str:
        where = f"{self.case}: {self.kind}/{self.name}"
        return f"{where} {self.check} (grade {self.grade}): {self.summary}"


@dataclass(frozen=True)
class Accepted:
    check: str
    reason: str
    cases: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()

    def matches(self, finding: Finding) -> bool:
        if finding.check != self.check:
            return False
        if self.cases and finding.case not in self.cases:
            return False
        target = f"{finding.kind}/{finding.name}"
        return not self.objects or any(fnmatch.fnmatchcase(target, o) for o in self.objects)


def load_exceptions() -> list[Accepted]:
    entries = yaml.safe_load(EXCEPTIONS.read_text())["exceptions"]
    return [
        Accepted(
            check=entry["check"],
            reason=entry["reason"],
            cases=tuple(entry.get("cases", ())),
            objects=tuple(entry.get("objects", ())),
        )
        for entry in entries
    ]


@pytest.fixture(scope="module")
def kube_score() -> str:
    """The kube-score binary, built through the same cache as the dev stack's tools."""
    try:
        TOOL.build()
    except (BuildError, OSError) as exc:
        message = f"kube-score could not be built from dev/go/kube-score: {exc}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(TOOL.binary("kube-score"))


def score(kube_score: str, case: Any) -> Iterator[Finding]:
    """Every finding kube-score has on one case's rendered objects."""
    result = subprocess.run(
        [kube_score, "score", "--kubernetes-version", KUBERNETES_VERSION,
         "--output-format", "json", "-"],
        input=GOLDENS.render(case),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip
    # It exits 1 when it has critical findings; anything else but JSON is a failure.
    assert result.returncode in (0, 1), result.stderr
    for scored in json.loads(result.stdout):
        for check in scored["checks"]:
            if check["skipped"] or check["grade"] >= ALL_OK:
                continue
            comments = check.get("comments") or [{"summary": check["check"]["name"]}]
            yield Finding(
                case=case.name,
                kind=scored["type_meta"]["kind"],
                name=scored["object_meta"]["name"],
                check=check["check"]["id"],
                grade=check["grade"],
                summary="; ".join(c["summary"] for c in comments),
            )


@pytest.fixture(scope="module")
def findings(kube_score: str) -> list[Finding]:
    return [finding for case in GOLDENS.CASES for finding in score(kube_score, case)]


def test_the_scored_cases_are_the_examples() -> None:
    examples = {case.example for case in GOLDENS.CASES}
    assert {"store.yaml", "store-demo.yaml", "store-full.yaml"} <= examples


def test_every_finding_is_an_exception_with_its_reason(findings: list[Finding]) -> None:
    exceptions = load_exceptions()
    unexpected = [f for f in findings if not any(e.matches(f) for e in exceptions)]
    assert not unexpected, (
        "kube-score findings not listed in tests/kube-score-exceptions.yaml "
        "(fix the template, or add a narrow exception with its reason):\n"
        + "\n".join(str(f) for f in unexpected)
    )


def test_every_exception_still_matches_a_finding(findings: list[Finding]) -> None:
    stale = [e for e in load_exceptions() if not any(e.matches(f) for f in findings)]
    assert not stale, "exceptions that match no finding any more: " + ", ".join(
        f"{e.check} {list(e.cases)} {list(e.objects)}" for e in stale
    )


def test_every_exception_says_why() -> None:
    for exception in load_exceptions():
        assert len(exception.reason.split()) >= 8, exception
