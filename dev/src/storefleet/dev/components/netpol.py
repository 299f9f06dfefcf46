"""NetworkPolicy enforcement on the real node: kube-router's firewall, nothing else.

kube-router (built from its Go module, dev/go/kube-router) runs with only its
network-policy controller: no routing, no service proxy (kube-proxy does that).
It watches the cluster's NetworkPolicies, Namespaces and Pods and keeps, for
every pod of the real node, an iptables chain that accepts what a policy allows
and rejects the rest, with ipsets of the peers' addresses. It hooks INPUT,
FORWARD and OUTPUT: pod to pod across the bridge (``physdev``), pod to the host
(the relay, DNS, the kubelet) and the host's own traffic to pods. Traffic that
starts on the host itself (the kubelet's probes, the Ingress controller, the
relay's replies) is always let in, as kube-router does on every node.

This kernel has what that needs (ip_set with hash:ip, hash:net and list:set,
xt_set, conntrack, physdev, addrtype, NFLOG); the ``ipset`` command comes from
Debian's package. KWOK's fake nodes have no datapath: nothing is enforced there.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Final

from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.debian import ensure_packages
from storefleet.dev.gobuild import GoTool
from storefleet.dev.kubeconfig import write_kubeconfig
from storefleet.dev.network import SERVICE_CIDR
from storefleet.dev.nodeconfig import NODE_NAME
from storefleet.dev.pki import Authority
from storefleet.dev.processes import run_checked, wait_until

TOOL = GoTool(
    name="kube-router",
    module="github.com/cloudnativelabs/kube-router/v2",
    commands={"kube-router": "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
    ldflags=("-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={version}",),
)
IDENTITY: Final = "storefleet:kube-router"
# Its top-level chains, jumped to from the built-in hooks of the filter table.
HOOKS: Final = {"INPUT": "KUBE-ROUTER-INPUT", "FORWARD": "KUBE-ROUTER-FORWARD"}
HOOKS_ALL: Final = {**HOOKS, "OUTPUT": "KUBE-ROUTER-OUTPUT"}
# Every chain and ipset kube-router's firewall makes starts with one of these.
CHAIN_PREFIXES: Final = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES: Final = ("KUBE-SRC-", "KUBE-DST-")
# How often it re-applies everything, beside reacting to every change.
SYNC_PERIOD: Final = "1m"

# What the controller reads in the cluster: no writes at all.
RULES: Final[list[dict[str, object]]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch"],
    },
]


def objects() -> list[dict[str, object]]:
    """The controller's ClusterRole and its binding to the identity it connects as."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": IDENTITY},
            "rules": RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": IDENTITY},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": IDENTITY,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": IDENTITY}
            ],
        },
    ]


def command(binary: Path, kubeconfig: Path) -> list[str]:
    """kube-router with its firewall only, for the real node, serving no port."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        # It writes no CNI configuration: the node's bridge conflist stays as it is.
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--iptables-sync-period={SYNC_PERIOD}",
        # Its health server would listen on every address, pods' bridge included;
        # readiness is read from the chains it writes instead. No metrics server.
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


def enforcing() -> bool:
    """Whether kube-router's chains are in place and hooked into INPUT and FORWARD."""
    for hook, chain in HOOKS.items():
        if f"-j {chain}" not in run_checked("iptables", "-w", "-S", hook, check=False).stdout:
            return False
    default = run_checked("iptables", "-w", "-n", "-L", "KUBE-NWPLCY-DEFAULT", check=False)
    return default.returncode == 0


def remove_rules() -> None:
    """Take out every chain, jump and ipset kube-router's firewall made.

    kube-router v2.1.0's own ``--cleanup-config`` leaves the firewall's rules
    (it cleans up through a controller it never set up), so the stack does it.
    """
    for hook in HOOKS_ALL:
        listed = run_checked("iptables", "-w", "-S", hook, check=False).stdout
        for line in listed.splitlines():
            if line.startswith(f"-A {hook} ") and re.search(r"-j KUBE-ROUTER-\S+", line):
                rule = _split_rule(line[len(f"-A {hook} ") :])
                run_checked("iptables", "-w", "-D", hook, *rule, check=False)
    chains = [
        line.split()[1]
        for line in run_checked("iptables", "-w", "-S", check=False).stdout.splitlines()
        if line.startswith("-N ") and line.split()[1].startswith(CHAIN_PREFIXES)
    ]
    for chain in chains:
        run_checked("iptables", "-w", "-F", chain, check=False)
    for chain in chains:
        run_checked("iptables", "-w", "-X", chain, check=False)
    if shutil.which("ipset") is None:
        return
    ours = [
        name
        for name in run_checked("ipset", "list", "-n", check=False).stdout.split()
        if name.startswith(IPSET_PREFIXES)
    ]
    # Twice: a set still named by a list:set of ours goes once that list is gone.
    for _ in range(2):
        ours = [
            name for name in ours if run_checked("ipset", "destroy", name, check=False).returncode
        ]


def _split_rule(text: str) -> list[str]:
    """The words of one ``iptables -S`` rule, a quoted comment kept as one word."""
    return [word.strip('"') for word in re.findall(r'"[^"]*"|\S+', text)]


class NetworkPolicies(Component):
    name = "netpol"
    requires = ("node",)
    process_names = ("kube-router",)

    def __init__(self) -> None:
        self.cluster = Kubernetes()

    def install(self) -> None:
        ensure_packages(["ipset"], "ipset")
        TOOL.build()

    def up(self) -> None:
        self.install()
        proc = self.process("kube-router")
        self.cluster.apply(objects(), "storefleet-dev-netpol")
        if proc.running():
            return
        proc.start(command(TOOL.binary("kube-router"), self._kubeconfig()))
        wait_until(enforcing, process=proc, what="its iptables chains", timeout=90, interval=0.5)

    def _kubeconfig(self) -> Path:
        authority = Authority(self.cluster.directory / "pki")
        pair = authority.issue("kube-router", common_name=IDENTITY)
        path = self.directory / "kube-router.kubeconfig"
        write_kubeconfig(
            path, server=self.cluster.server, ca=authority.ca.cert, client=pair, user="kube-router"
        )
        return path

    def down(self) -> list[str]:
        stopped = super().down()
        remove_rules()
        return stopped

    def env(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        return f"kube-router {TOOL.version} firewall only, NetworkPolicies enforced on {NODE_NAME}"
