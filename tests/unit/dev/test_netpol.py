"""kube-router as the dev node runs it: its firewall alone, serving no port."""

from __future__ import annotations

from pathlib import Path

from storefleet.dev.components import netpol
from storefleet.dev.network import SERVICE_CIDR
from storefleet.dev.nodeconfig import NODE_NAME


def test_only_the_firewall_runs_for_the_real_node_and_no_port_is_served() -> None:
    argv = netpol.command(Path("/cache/kube-router"), Path("/state/kube-router.kubeconfig"))
    assert argv[0] == "/cache/kube-router"
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])
    assert flags["run-firewall"] == "true"
    assert flags["run-router"] == flags["run-service-proxy"] == flags["run-loadbalancer"] == "false"
    assert flags["enable-cni"] == "false", "the node's CNI configuration is not kube-router's"
    assert flags["hostname-override"] == NODE_NAME
    assert flags["kubeconfig"] == "/state/kube-router.kubeconfig"
    assert flags["service-cluster-ip-range"] == SERVICE_CIDR
    assert flags["health-port"] == flags["metrics-port"] == "0"


def test_its_identity_may_read_and_never_write() -> None:
    (role, binding) = netpol.objects()
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": netpol.IDENTITY}
    ]


def test_a_listed_rule_splits_into_the_words_that_delete_it() -> None:
    line = '-m comment --comment "kube-router netpol - ABCD" -j KUBE-ROUTER-INPUT'
    assert netpol._split_rule(line) == [
        "-m", "comment", "--comment", "kube-router netpol - ABCD", "-j", "KUBE-ROUTER-INPUT",
    ]  # fmt: skip
