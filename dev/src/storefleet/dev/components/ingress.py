"""An Ingress controller for the real node: HAProxy Ingress driving Debian's HAProxy.

The controller (built from its Go module, dev/go/haproxy-ingress) watches the
cluster's Ingresses of class ``haproxy`` and their Services' endpoints, and
writes and reloads the configuration of the HAProxy it runs (master-worker
mode). HAProxy routes each Ingress rule's host and paths to the pods behind its
Service, over the bridge, exactly as an Ingress controller does in a cluster.

Everything listens on loopback: HTTP on ``INGRESS_HTTP_PORT``, HAProxy's stats
and health on ports of their own. The controller's own health server cannot be
told an address (it listens on every interface, with an unauthenticated
``/stop``), so a guard chain in INPUT refuses its port from anything but
loopback. The stack's Ingresses are plain HTTP: nothing is redirected to HTTPS.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.debian import ensure_packages
from storefleet.dev.gobuild import GoTool
from storefleet.dev.iptables import ensure_guard, remove_guard
from storefleet.dev.kubeconfig import write_kubeconfig
from storefleet.dev.pki import Authority
from storefleet.dev.processes import ensure_port_free, http_ok, wait_until

TOOL = GoTool(
    name="haproxy-ingress",
    module="github.com/jcmoraisjr/haproxy-ingress",
    commands={"haproxy-ingress-controller": "github.com/jcmoraisjr/haproxy-ingress/pkg"},
)
INGRESS_CLASS: Final = "haproxy"
CONTROLLER: Final = "haproxy-ingress.github.io/controller"
NAMESPACE: Final = "ingress-haproxy"
CONFIGMAP: Final = "haproxy-ingress"
IDENTITY: Final = "storefleet:ingress-controller"
INGRESS_HTTP_PORT = int(os.environ.get("STOREFLEET_INGRESS_HTTP_PORT", "18088"))
# HTTPS is unused (no certificates in the dev stack) but HAProxy binds it.
INGRESS_HTTPS_PORT = INGRESS_HTTP_PORT + 1
STATS_PORT = INGRESS_HTTP_PORT + 2
HAPROXY_HEALTHZ_PORT = INGRESS_HTTP_PORT + 3
CONTROLLER_HEALTHZ_PORT = INGRESS_HTTP_PORT + 4
GUARD_CHAIN: Final = "STOREFLEET-INGRESS"

# The controller's global settings (its ConfigMap): every listener on loopback.
GLOBAL_CONFIG: Final[dict[str, str]] = {
    "bind-ip-addr-http": "127.0.0.1",
    "bind-ip-addr-tcp": "127.0.0.1",
    "bind-ip-addr-healthz": "127.0.0.1",
    "bind-ip-addr-stats": "127.0.0.1",
    "bind-ip-addr-prometheus": "127.0.0.1",
    "http-port": str(INGRESS_HTTP_PORT),
    "https-port": str(INGRESS_HTTPS_PORT),
    "stats-port": str(STATS_PORT),
    "healthz-port": str(HAPROXY_HEALTHZ_PORT),
    "ssl-redirect": "false",
    "syslog-endpoint": "stdout",
    "syslog-format": "raw",
}

# What the controller reads and writes in the cluster, and nothing more.
RULES: Final[list[dict[str, object]]] = [
    {
        "apiGroups": [""],
        "resources": ["configmaps", "endpoints", "pods", "secrets", "services"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "ingressclasses"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch"],
    },
]


def objects() -> list[dict[str, object]]:
    """The IngressClass, the controller's ConfigMap and its RBAC."""
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": IDENTITY}
    subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": IDENTITY}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": INGRESS_CLASS},
            "spec": {"controller": CONTROLLER},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "namespace": NAMESPACE},
            "data": dict(GLOBAL_CONFIG),
        },
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
            "roleRef": role_ref,
            "subjects": [subject],
        },
    ]


class Ingress(Component):
    name = "ingress"
    requires = ("node",)
    process_names = ("haproxy-ingress",)

    def __init__(self) -> None:
        self.cluster = Kubernetes()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{INGRESS_HTTP_PORT}"

    @property
    def templates(self) -> Path:
        """Where the controller finds ``rootfs/etc``: its HAProxy templates and Lua."""
        return TOOL.bin_dir.parent

    def install(self) -> None:
        ensure_packages(["haproxy"], "/usr/sbin/haproxy")
        # The controller's Lua (auth requests) needs a JSON module.
        ensure_packages(["lua-json"], "/usr/share/lua/5.3/json.lua")
        TOOL.build()
        target = self.templates / "rootfs" / "etc"
        if not target.is_dir():
            source = TOOL.source_dir() / "rootfs" / "etc"
            shutil.copytree(source, target.with_suffix(".partial"), dirs_exist_ok=True)
            target.with_suffix(".partial").replace(target)

    def up(self) -> None:
        self.install()
        proc = self.process("haproxy-ingress")
        self._guard()
        self.cluster.apply(objects(), "storefleet-dev-ingress")
        if proc.running():
            return
        for port in (INGRESS_HTTP_PORT, STATS_PORT, HAPROXY_HEALTHZ_PORT, CONTROLLER_HEALTHZ_PORT):
            ensure_port_free(port, proc)
        kubeconfig = self._kubeconfig()
        filesystem = self.directory / "fs"
        # HAProxy loads the controller's Lua scripts from below the prefix.
        lua = self.templates / "rootfs" / "etc" / "lua"
        shutil.copytree(lua, filesystem / "etc" / "haproxy" / "lua", dirs_exist_ok=True)
        proc.start(
            [
                str(TOOL.binary("haproxy-ingress-controller")),
                f"--kubeconfig={kubeconfig}",
                f"--configmap={NAMESPACE}/{CONFIGMAP}",
                f"--ingress-class={INGRESS_CLASS}",
                f"--local-filesystem-prefix={filesystem}",
                "--master-worker",
                f"--healthz-port={CONTROLLER_HEALTHZ_PORT}",
                "--profiling=false",
                "--update-status=false",
                "--watch-gateway=false",
                "--enable-endpointslices-api",
                "--disable-api-warnings",
            ],
            cwd=self.templates,
            # The controller finds `haproxy` on PATH; Debian's is in /usr/sbin.
            env={"PATH": f"/usr/sbin:{os.environ.get('PATH', '')}", "POD_NAMESPACE": NAMESPACE},
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{HAPROXY_HEALTHZ_PORT}/healthz"),
            process=proc,
            what="HAProxy's /healthz",
            timeout=60,
        )

    def _kubeconfig(self) -> Path:
        authority = Authority(self.cluster.directory / "pki")
        pair = authority.issue("ingress-controller", common_name=IDENTITY)
        path = self.directory / "controller.kubeconfig"
        write_kubeconfig(
            path, server=self.cluster.server, ca=authority.ca.cert, client=pair, user="ingress"
        )
        return path

    def _guard(self) -> None:
        """Refuse the controller's health port from anything but loopback."""
        rule = ["!", "-i", "lo", "-p", "tcp", "--dport", str(CONTROLLER_HEALTHZ_PORT), "-j", "DROP"]
        ensure_guard("INPUT", GUARD_CHAIN, [rule], ipv6=True)

    def down(self) -> list[str]:
        stopped = super().down()
        remove_guard("INPUT", GUARD_CHAIN, ipv6=True)
        return stopped

    def env(self) -> dict[str, str]:
        return {"STOREFLEET_INGRESS_URL": self.url, "STOREFLEET_INGRESS_CLASS": INGRESS_CLASS}

    def describe(self) -> str:
        return f"{self.url} (IngressClass {INGRESS_CLASS}, stats 127.0.0.1:{STATS_PORT})"
