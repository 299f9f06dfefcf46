"""The committed go.mod files build what the stack expects, at matching versions."""

from __future__ import annotations

import re

from storefleet.dev.components.kubernetes import TOOL as KUBERNETES
from storefleet.dev.components.kwok import TOOL as KWOK


def test_every_kubernetes_staging_module_is_pinned_to_the_matching_release() -> None:
    go_mod = (KUBERNETES.module_dir / "go.mod").read_text()
    major, minor, patch = KUBERNETES.version.lstrip("v").split(".")
    assert major == "1"
    pins = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", go_mod, re.M)
    # k8s.io/kubernetes refers to about thirty staging modules by relative path.
    assert len(pins) >= 25
    for source, target, version in pins:
        assert source == target
        assert version == f"v0.{minor}.{patch}", f"{source} is pinned to {version}"


def test_the_cache_is_keyed_by_the_version_go_mod_requires() -> None:
    assert KUBERNETES.bin_dir.parent.name == f"kubernetes-{KUBERNETES.version}"
    assert KWOK.bin_dir.parent.name == f"kwok-{KWOK.version}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", KWOK.version)


def test_go_sum_is_committed_so_builds_are_verified() -> None:
    for tool in (KUBERNETES, KWOK):
        assert (tool.module_dir / "go.sum").stat().st_size > 0
