"""The committed go.mod files build what the stack expects, at matching versions."""

from __future__ import annotations

import re

from storefleet.dev.components.kubernetes import TOOL as KUBERNETES
from storefleet.dev.components.kwok import TOOL as KWOK
from storefleet.dev.components.node import COREDNS, LOCAL_PATH


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
    for tool in (KUBERNETES, KWOK, COREDNS, LOCAL_PATH):
        assert (tool.module_dir / "go.sum").stat().st_size > 0


def test_the_node_runs_a_kubelet_and_kube_proxy_of_the_control_planes_version() -> None:
    """Built from the one k8s.io/kubernetes module: no version skew between them."""
    assert {"kubelet", "kube-proxy", "kube-apiserver"} <= set(KUBERNETES.commands)
    assert COREDNS.bin_dir.parent.name == f"coredns-{COREDNS.version}"
