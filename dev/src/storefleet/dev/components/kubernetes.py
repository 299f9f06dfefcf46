"""A local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, built from the k8s.io/kubernetes Go module (dev/go/kubernetes).

This is what envtest runs plus the controller manager (garbage collection,
namespace deletion, Deployments and ReplicaSets, ServiceAccount tokens) and the
scheduler, so that with KWOK's fake nodes a Deployment becomes Available just as
on a real cluster. Everything listens on loopback only. The API server
advertises the real node's bridge address (where the stack's relay forwards to
it, see components/relay.py), so pods reach it through the `kubernetes` Service
as in a cluster.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import yaml

from storefleet.dev.components.base import Component
from storefleet.dev.gobuild import GoTool
from storefleet.dev.kubeconfig import write_kubeconfig
from storefleet.dev.network import NODE_IP, SERVICE_CIDR, SERVICE_IP
from storefleet.dev.pki import Authority
from storefleet.dev.processes import StartError, ensure_port_free, port_open, wait_until

ETCD_PORT = int(os.environ.get("STOREFLEET_ETCD_PORT", "23790"))
ETCD_PEER_PORT = ETCD_PORT + 10
APISERVER_PORT = int(os.environ.get("STOREFLEET_APISERVER_PORT", "16443"))
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"

TOOL = GoTool(
    name="kubernetes",
    module="k8s.io/kubernetes",
    commands={
        "etcd": "go.etcd.io/etcd/server/v3",
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        # The real node's (components/node.py), at the control plane's version.
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    },
    # Without these the binaries report v0.0.0 and clients warn of version skew.
    ldflags=(
        "-X k8s.io/component-base/version.gitVersion={version}",
        "-X k8s.io/component-base/version.gitMajor={major}",
        "-X k8s.io/component-base/version.gitMinor={minor}",
        "-X k8s.io/client-go/pkg/version.gitVersion={version}",
    ),
)


class Kubernetes(Component):
    name = "kubernetes"
    process_names = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{APISERVER_PORT}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def kubeconfig_for(self, identity: str) -> Path:
        return self.directory / f"{identity}.kubeconfig"

    def install(self) -> None:
        TOOL.build()

    def _pki(self) -> Authority:
        authority = Authority(self.directory / "pki")
        authority.issue(
            "apiserver",
            common_name="kube-apiserver",
            hosts=(
                "127.0.0.1",
                "localhost",
                SERVICE_IP,
                NODE_IP,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server=True,
        )
        identities = {
            # kubeconfig name: (certificate CN, organization)
            "admin": ("storefleet-admin", "system:masters"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
            "kwok": ("storefleet-kwok", "system:masters"),
            # The API server's own identity toward kubelets (logs, exec, port-forward).
            "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
        }
        for identity, (common_name, organization) in identities.items():
            pair = authority.issue(identity, common_name=common_name, organization=organization)
            write_kubeconfig(
                self.kubeconfig_for(identity),
                server=self.server,
                ca=authority.ca.cert,
                client=pair,
                user=identity,
            )
        authority.service_account_keys()
        return authority

    def up(self) -> None:
        self.install()
        pki = self._pki()
        ca = pki.ca
        sa = pki.service_account_keys()
        serving = self.directory / "pki" / "apiserver"

        etcd = self.process("etcd")
        if not etcd.running():
            ensure_port_free(ETCD_PORT, etcd)
            ensure_port_free(ETCD_PEER_PORT, etcd)
            peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
            client = f"http://127.0.0.1:{ETCD_PORT}"
            etcd.start(
                [
                    str(TOOL.binary("etcd")),
                    "--name=default",
                    f"--data-dir={self.directory / 'etcd'}",
                    f"--listen-client-urls={client}",
                    f"--advertise-client-urls={client}",
                    f"--listen-peer-urls={peer}",
                    f"--initial-advertise-peer-urls={peer}",
                    f"--initial-cluster=default={peer}",
                    # Test data: losing it on a crash is fine, waiting on disks is not.
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ]
            )
        wait_until(lambda: port_open(ETCD_PORT), process=etcd, what="client port", timeout=30)

        apiserver = self.process("kube-apiserver")
        if not apiserver.running():
            ensure_port_free(APISERVER_PORT, apiserver)
        apiserver.start(
            [
                str(TOOL.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
                "--bind-address=127.0.0.1",
                f"--advertise-address={NODE_IP}",
                f"--secure-port={APISERVER_PORT}",
                f"--tls-cert-file={serving}.crt",
                f"--tls-private-key-file={serving}.key",
                f"--client-ca-file={ca.cert}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--kubelet-client-certificate={self.directory}/pki/apiserver-kubelet-client.crt",
                f"--kubelet-client-key={self.directory}/pki/apiserver-kubelet-client.key",
                f"--kubelet-certificate-authority={ca.cert}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        )
        wait_until(self._apiserver_ready, process=apiserver, what="/readyz", timeout=120)

        self.process("kube-controller-manager").start(
            [
                str(TOOL.binary("kube-controller-manager")),
                f"--kubeconfig={self.kubeconfig_for('controller-manager')}",
                f"--authentication-kubeconfig={self.kubeconfig_for('controller-manager')}",
                f"--authorization-kubeconfig={self.kubeconfig_for('controller-manager')}",
                # Tokens and the root CA in every namespace: what pods and
                # Vault's Kubernetes auth rely on.
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.cert}",
                f"--cluster-signing-cert-file={ca.cert}",
                f"--cluster-signing-key-file={ca.key}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                # The default 20 requests/s throttles the Deployment, ReplicaSet and
                # pod churn of many Stores created at once; loopback can take more.
                "--kube-api-qps=100",
                "--kube-api-burst=200",
            ]
        )
        self.process("kube-scheduler").start(
            [
                str(TOOL.binary("kube-scheduler")),
                f"--kubeconfig={self.kubeconfig_for('scheduler')}",
                f"--authentication-kubeconfig={self.kubeconfig_for('scheduler')}",
                f"--authorization-kubeconfig={self.kubeconfig_for('scheduler')}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
            ]
        )
        # The controller manager is working once it has made the default namespace's
        # ServiceAccount; until then pods cannot be created anywhere.
        wait_until(
            lambda: (
                self.kubectl("get", "serviceaccount", "default", "-n", "default").returncode == 0
            ),
            process=self.process("kube-controller-manager"),
            what="default ServiceAccount",
            timeout=90,
        )

    def _apiserver_ready(self) -> bool:
        if not port_open(APISERVER_PORT):
            return False
        context = ssl.create_default_context(cafile=str(self.directory / "pki" / "ca.crt"))
        try:
            response = httpx.get(f"{self.server}/readyz", verify=context, timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def kubectl_command(self) -> list[str]:
        """argv of the kubectl built with the control plane, as its admin."""
        return [str(TOOL.binary("kubectl")), f"--kubeconfig={self.kubeconfig}"]

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.kubectl_command(), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )

    def apply(self, documents: list[dict[str, object]], field_manager: str) -> None:
        """Server-side apply of a component's objects, as their one field manager."""
        text = "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in documents)
        result = self.kubectl(
            "apply", "--server-side", "--force-conflicts",
            f"--field-manager={field_manager}", "-f", "-",
            input=text,
        )  # fmt: skip
        if result.returncode != 0:
            raise StartError(f"applying the objects of {field_manager} failed: {result.stderr}")

    def advertise_ephemeral_storage(self, node: str, quantity: str) -> None:
        """Put ephemeral-storage into a node's capacity and allocatable.

        Store pods request ephemeral-storage, and the scheduler refuses them a node
        that reports none. KWOK's fake nodes report only what they are given, and
        the real node's kubelet runs with localStorageCapacityIsolation off
        (dev/nodeconfig.py), so it reports none either; it keeps a capacity that
        someone else set, as for extended resources, and derives allocatable from
        it. Not enforced on these nodes: only counted.
        """
        patch = {"status": {"capacity": {"ephemeral-storage": quantity}}}
        patch["status"]["allocatable"] = dict(patch["status"]["capacity"])
        result = self.kubectl(
            "patch", "node", node, "--subresource=status", "--type=merge",
            "-p", json.dumps(patch),
        )  # fmt: skip
        if result.returncode != 0:
            raise StartError(f"advertising ephemeral-storage on node {node}: {result.stderr}")

    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "STOREFLEET_KUBECTL": str(TOOL.binary("kubectl")),
        }

    def describe(self) -> str:
        return f"{self.server} (etcd 127.0.0.1:{ETCD_PORT}, kubeconfig {self.kubeconfig})"
