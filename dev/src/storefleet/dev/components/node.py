"""A real node beside the KWOK ones: its pods run containers on this machine.

What kind's node image does inside Docker, done on the host: containerd and
runc from Debian's packages with the CRI plugin on folders of our own, the
kubelet and kube-proxy built from k8s.io/kubernetes at the control plane's
version, a bridge the stack creates for the pods (with host-local addresses
from Debian's CNI plugins), cluster DNS from CoreDNS's Go module, and a volume
provisioner (local-path-provisioner's Go module) so the PersistentVolumeClaims
of in-namespace datastores get a folder on the node.

Pods live in network namespaces of their own on 198.18.0.0/24; the host
forwards nothing between that bridge and any other interface, so no pod traffic
leaves the machine. Everything here is stopped by `stack down`, containers
included.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from storefleet.dev import images, nodeconfig
from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import TOOL as KUBERNETES
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.debian import ensure_packages
from storefleet.dev.gobuild import GoTool
from storefleet.dev.iptables import ensure_guard, remove_guard
from storefleet.dev.kubeconfig import write_kubeconfig
from storefleet.dev.network import BRIDGE, NODE_IP, NODE_PREFIX, POD_CIDR
from storefleet.dev.nodeconfig import NODE_NAME
from storefleet.dev.pki import Authority
from storefleet.dev.processes import StartError, http_ok, run_checked, wait_until

COREDNS = GoTool(name="coredns", module="github.com/coredns/coredns", commands={"coredns": "."})
LOCAL_PATH = GoTool(
    name="local-path",
    module="github.com/rancher/local-path-provisioner",
    commands={"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
)
NODE_PACKAGES = ["containerd", "runc", "containernetworking-plugins", "iptables", "conntrack"]
STORAGE_CLASS = "local-path"
PROVISIONER_NAMESPACE = "local-path-storage"
# The chain the stack adds to FORWARD: nothing crosses between the pods' bridge
# and any other interface, in either direction.
GUARD_CHAIN = "STOREFLEET-NODE"
# Routing between the pods and the host's Services needs forwarding on, and
# Service replies between pods on one bridge must pass iptables.
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
# Who the node's servers are to the API server: (certificate CN, organization).
IDENTITIES = {
    "node": (f"system:node:{NODE_NAME}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", None),
    "coredns": ("storefleet:coredns", None),
    "local-path": ("storefleet:local-path-provisioner", None),
}


class Node(Component):
    name = "node"
    requires = ("kubernetes",)
    process_names = ("containerd", "kubelet", "kube-proxy", "coredns", "local-path-provisioner")

    def __init__(self) -> None:
        self.cluster = Kubernetes()

    # -- install --------------------------------------------------------------

    def install(self) -> None:
        ensure_packages(NODE_PACKAGES, "/usr/lib/cni/bridge")
        ensure_packages(NODE_PACKAGES, "containerd")
        KUBERNETES.build()
        COREDNS.build()
        LOCAL_PATH.build()
        images.pause(KUBERNETES.version, report=_report)
        images.base(report=_report)

    # -- paths ----------------------------------------------------------------

    @property
    def containerd_dir(self) -> Path:
        return self.directory / "containerd"

    @property
    def socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def cni_dir(self) -> Path:
        return self.directory / "cni"

    @property
    def volumes_dir(self) -> Path:
        return self.directory / "volumes"

    def kubeconfig(self, identity: str) -> Path:
        return self.directory / f"{identity}.kubeconfig"

    # -- up -------------------------------------------------------------------

    def up(self) -> None:
        self.install()
        authority = Authority(self.cluster.directory / "pki")
        self._credentials(authority)
        self._network()
        self._containerd()
        self.load(images.pause(KUBERNETES.version, report=_report))
        helper = images.base_archive(report=_report)
        self.load(helper)
        self._kubelet(authority)
        self._kube_proxy()
        self._coredns()
        self._local_path(helper.reference)

    def _credentials(self, authority: Authority) -> None:
        for identity, (common_name, organization) in IDENTITIES.items():
            pair = authority.issue(
                f"node-{identity}", common_name=common_name, organization=organization
            )
            write_kubeconfig(
                self.kubeconfig(identity),
                server=self.cluster.server,
                ca=authority.ca.cert,
                client=pair,
                user=identity,
            )
        authority.issue(
            "kubelet-serving",
            common_name=f"system:node:{NODE_NAME}",
            organization="system:nodes",
            hosts=(NODE_IP, NODE_NAME),
            server=True,
        )
        self.cluster.apply(_rbac(), "storefleet-dev-node")

    def _network(self) -> None:
        """The pods' bridge with the node's address, and the guard on forwarding."""
        if run_checked("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            run_checked("ip", "link", "add", BRIDGE, "type", "bridge")
        addresses = run_checked("ip", "-4", "-o", "addr", "show", "dev", BRIDGE).stdout
        if f"{NODE_IP}/" not in addresses:
            run_checked("ip", "addr", "add", f"{NODE_IP}/{NODE_PREFIX}", "dev", BRIDGE)
        run_checked("ip", "link", "set", BRIDGE, "up")
        # Routing between the pods and the host's Services needs forwarding on,
        # and Service replies between pods on one bridge must pass iptables.
        self._set_sysctls()
        ensure_guard(
            "FORWARD",
            GUARD_CHAIN,
            [
                ["-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"],
                ["-o", BRIDGE, "!", "-i", BRIDGE, "-j", "DROP"],
            ],
        )

    def _containerd(self) -> None:
        self.cni_dir.mkdir(parents=True, exist_ok=True)
        _write((self.cni_dir / "10-storefleet.conflist"), nodeconfig.cni_conflist())
        self.containerd_dir.mkdir(parents=True, exist_ok=True)
        config = self.containerd_dir / "config.toml"
        _write(config, nodeconfig.containerd_config(self.containerd_dir, self.cni_dir))
        proc = self.process("containerd")
        proc.start(["containerd", f"--config={config}"])
        wait_until(self._containerd_answers, process=proc, what="its socket", timeout=60)

    def _containerd_answers(self) -> bool:
        return self.ctr("version").returncode == 0

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", f"--address={self.socket}", "--namespace=k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    @property
    def _loaded_file(self) -> Path:
        return self.containerd_dir / "loaded.json"

    def load(self, archive: images.Archive) -> None:
        """Import an image archive into the node's containerd unless it holds that build."""
        try:
            loaded: dict[str, str] = json.loads(self._loaded_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            loaded = {}
        present = self.ctr("images", "check", f"name=={archive.reference}").stdout
        if loaded.get(archive.reference) == archive.key and archive.reference in present:
            return
        result = self.ctr("images", "import", "--no-unpack=false", str(archive.path))
        if result.returncode != 0:
            raise StartError(f"importing {archive.path} into containerd: {result.stderr}")
        loaded[archive.reference] = archive.key
        self._loaded_file.write_text(json.dumps(loaded, indent=2))

    def _kubelet(self, authority: Authority) -> None:
        pki = authority.directory
        config = self.directory / "kubelet.yaml"
        _write(
            config,
            nodeconfig.kubelet_config(
                ca=authority.ca.cert,
                cert=pki / "kubelet-serving.crt",
                key=pki / "kubelet-serving.key",
                runtime_socket=self.socket,
            ),
        )
        proc = self.process("kubelet")
        proc.start(
            [
                str(KUBERNETES.binary("kubelet")),
                f"--config={config}",
                f"--kubeconfig={self.kubeconfig('node')}",
                f"--root-dir={self.directory / 'kubelet'}",
                f"--cert-dir={self.directory / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--node-labels=storefleet.io/node=real",
                "--v=1",
            ]
        )
        wait_until(self._node_ready, process=proc, what="a Ready node", timeout=120, interval=1)
        # The size of the disk the kubelet keeps pods' writable layers, logs and
        # emptyDirs on, as the capacity the scheduler counts requests against.
        disk = shutil.disk_usage(self.directory).total
        self.cluster.advertise_ephemeral_storage(NODE_NAME, f"{disk // 2**30}Gi")

    def _node_ready(self) -> bool:
        result = self.cluster.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        )
        return result.returncode == 0 and result.stdout.strip() == "True"

    def _kube_proxy(self) -> None:
        config = self.directory / "kube-proxy.yaml"
        _write(config, nodeconfig.kube_proxy_config(self.kubeconfig("kube-proxy")))
        proc = self.process("kube-proxy")
        proc.start([str(KUBERNETES.binary("kube-proxy")), f"--config={config}", "--v=1"])
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{nodeconfig.PROXY_HEALTHZ_PORT}/healthz"),
            process=proc,
            what="/healthz",
            timeout=60,
        )

    def _coredns(self) -> None:
        corefile = self.directory / "Corefile"
        _write(corefile, nodeconfig.corefile(self.kubeconfig("coredns")))
        proc = self.process("coredns")
        proc.start([str(COREDNS.binary("coredns")), "-conf", str(corefile)])
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{nodeconfig.DNS_READY_PORT}/ready"),
            process=proc,
            what="/ready",
            timeout=60,
        )

    def _local_path(self, helper_image: str) -> None:
        self.volumes_dir.mkdir(parents=True, exist_ok=True)
        config = self.directory / "local-path.json"
        _write(config, nodeconfig.local_path_config(self.volumes_dir))
        helper = self.directory / "local-path-helper.yaml"
        _write(helper, nodeconfig.local_path_helper_pod(helper_image))
        self.cluster.apply(_storage(), "storefleet-dev-node")
        proc = self.process("local-path-provisioner")
        proc.start(
            [
                str(LOCAL_PATH.binary("local-path-provisioner")),
                "start",
                f"--kubeconfig={self.kubeconfig('local-path')}",
                f"--config={config}",
                f"--helper-pod-file={helper}",
                f"--helper-image={helper_image}",
                f"--namespace={PROVISIONER_NAMESPACE}",
                "--configmap-name=local-path-config",
                "--service-account-name=local-path-provisioner",
                "--provisioner-name=rancher.io/local-path",
            ]
        )
        time.sleep(1)
        if not proc.running():
            raise StartError(f"local-path-provisioner exited:\n{proc.log_tail()}")

    # -- down -----------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop the servers, then every container they left, the mounts and the network."""
        stopped: list[str] = []
        for name in ("local-path-provisioner", "coredns", "kube-proxy", "kubelet"):
            if self.process(name).stop():
                stopped.append(name)
        containerd = self.process("containerd")
        if containerd.running():
            self._remove_containers()
        if containerd.stop():
            stopped.append("containerd")
        _unmount_below(self.directory)
        self._remove_network()
        return stopped

    def _remove_containers(self) -> None:
        tasks = self.ctr("tasks", "list", "--quiet").stdout.split()
        for task in tasks:
            self.ctr("tasks", "kill", "--signal=SIGKILL", task)
        deadline = time.monotonic() + 20
        for task in tasks:
            while self.ctr("tasks", "delete", task).returncode != 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        for container in self.ctr("containers", "list", "--quiet").stdout.split():
            self.ctr("containers", "delete", container)
        # Sandboxes' network namespaces, made by this node's CNI plugins.
        for netns in Path("/var/run/netns").glob("cni-*"):
            with contextlib.suppress(OSError):
                config = subprocess.run(
                    ["ip", "netns", "exec", netns.name, "ip", "-4", "-o", "addr"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                if _in_pod_range(config):
                    subprocess.run(["ip", "netns", "delete", netns.name], check=False)
        state = self.directory / "cni-state"
        if state.exists():
            subprocess.run(["rm", "-rf", str(state)], check=False)

    @property
    def _sysctls_file(self) -> Path:
        return self.directory / "sysctls.json"

    def _set_sysctls(self) -> None:
        """Turn SYSCTLS on, remembering what they were so `down` can put them back."""
        before: dict[str, str] = {}
        for name in SYSCTLS:
            path = Path("/proc/sys") / name
            if path.exists():
                before[name] = path.read_text().strip()
                path.write_text("1\n")
        if not self._sysctls_file.exists():
            self._sysctls_file.write_text(json.dumps(before))

    def _restore_sysctls(self) -> None:
        try:
            before: dict[str, str] = json.loads(self._sysctls_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        for name, value in before.items():
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / name).write_text(value + "\n")
        self._sysctls_file.unlink()

    def _remove_network(self) -> None:
        # kube-proxy's own chains (KUBE-*), removed by kube-proxy itself.
        if KUBERNETES.built():
            subprocess.run(
                [str(KUBERNETES.binary("kube-proxy")), "--cleanup"],
                capture_output=True,
                check=False,
            )
        self._restore_sysctls()
        remove_guard("FORWARD", GUARD_CHAIN)
        run_checked("ip", "link", "delete", BRIDGE, check=False)

    def running(self) -> bool:
        return all(proc.running() for proc in self.processes)

    # -- report ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {"STOREFLEET_NODE_IP": NODE_IP, "STOREFLEET_NODE_NAME": NODE_NAME}

    def describe(self) -> str:
        return f"{NODE_NAME} on {NODE_IP} (pods {POD_CIDR} on bridge {BRIDGE})"


def _write(path: Path, text: str) -> None:
    """Write a config file only when it changes: kube-proxy exits when its file does."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _report(message: str) -> None:
    print(message, file=sys.stderr)


def _in_pod_range(addresses: str) -> bool:
    prefix = POD_CIDR.rsplit(".", 2)[0] + "."
    return f"inet {prefix}" in addresses


def _unmount_below(directory: Path) -> None:
    """Lazily unmount what containers and volumes left mounted under directory."""
    root = str(directory.resolve())
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted(points, key=len, reverse=True):
        decoded = point.encode().decode("unicode_escape")
        if decoded == root or decoded.startswith(root + "/"):
            subprocess.run(["umount", "-l", decoded], check=False, capture_output=True)


def _rbac() -> list[dict[str, object]]:
    """What the node's own servers may do: no more than their work needs."""
    rules = {
        "storefleet:coredns": [
            {
                "apiGroups": [""],
                "resources": ["services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["list", "watch"],
            },
        ],
        "storefleet:local-path-provisioner": [
            {
                "apiGroups": [""],
                "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": [""],
                "resources": ["persistentvolumes"],
                "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
            },
            {
                "apiGroups": [""],
                "resources": ["pods"],
                "verbs": ["create", "delete", "patch", "update"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {
                "apiGroups": ["storage.k8s.io"],
                "resources": ["storageclasses"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    documents: list[dict[str, object]] = []
    for name, role_rules in rules.items():
        documents.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name},
                "rules": role_rules,
            }
        )
        documents.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}
                ],
            }
        )
    return documents


def _storage() -> list[dict[str, object]]:
    """The default StorageClass and what the provisioner's helper pods need."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PROVISIONER_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "local-path-provisioner", "namespace": PROVISIONER_NAMESPACE},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": PROVISIONER_NAMESPACE},
            "data": dict(nodeconfig.LOCAL_PATH_SCRIPTS),
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        },
    ]
