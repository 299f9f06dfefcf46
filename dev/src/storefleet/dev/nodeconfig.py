"""The real node's configuration files, as data: what each server reads at start.

Each function returns the text of one file; `components/node.py` writes them
into the node's state folder and starts the servers on them. Settings that only
exist because of this machine (cgroup v1 without systemd, no CAP_SYS_RESOURCE,
swap) carry a comment saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from storefleet.dev.network import (
    BRIDGE,
    CLUSTER_DOMAIN,
    DNS_IP,
    NODE_IP,
    POD_CIDR,
)

NODE_NAME = "storefleet-node"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
PROXY_HEALTHZ_PORT = 10256
PROXY_METRICS_PORT = 10249
DNS_HEALTH_PORT = 18053
DNS_READY_PORT = 18181
# Where the sandbox image is found: built here (images/pause), never pulled.
PAUSE_IMAGE = "localhost/storefleet/pause:3.10"


def containerd_config(root: Path, cni_conf_dir: Path) -> str:
    """containerd 1.6 (Debian) with its CRI plugin, on folders of our own."""
    return f"""\
version = 2
root = "{root / "root"}"
state = "{root / "state"}"

[grpc]
  address = "{root / "containerd.sock"}"

[ttrpc]
  address = "{root / "containerd.sock.ttrpc"}"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Processes here lack CAP_SYS_RESOURCE: without this every sandbox fails with
  # runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1
"""


def cni_conflist() -> str:
    """A bridge the stack already made, host-local addresses, no masquerading.

    ipMasq stays off: pods have nowhere to go but each other and the host, and
    the host forwards nothing from the bridge to any other interface.
    """
    config: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "name": "storefleet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(*, ca: Path, cert: Path, key: Path, runtime_socket: Path) -> str:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "clusterDNS": [DNS_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        # Pods resolve cluster names only: the host's resolvers are not theirs.
        "resolvConf": "",
        # This machine: cgroup v1 and no systemd as PID 1.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "localStorageCapacityIsolation": False,
        # Images are imported, never pulled: garbage-collecting one loses it.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "serializeImagePulls": False,
        "maxPods": 110,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "0s",
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(kubeconfig: Path) -> str:
    config: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"127.0.0.1:{PROXY_METRICS_PORT}",
        "clusterCIDR": POD_CIDR,
        # NodePorts answer on the bridge address only, never on every address.
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # Service traffic between pods on one bridge comes back through the host.
        "iptables": {"masqueradeAll": True},
        "conntrack": {"maxPerCore": 0},
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(kubeconfig: Path) -> str:
    """Cluster names only; anything else is refused, nothing is forwarded."""
    return f"""\
{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {DNS_IP}
    errors
    health 127.0.0.1:{DNS_HEALTH_PORT}
    ready 127.0.0.1:{DNS_READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl 5
    }}
    loadbalance
    cache 5
}}
"""


def local_path_config(volumes: Path) -> str:
    return json.dumps(
        {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(volumes)]}]}
    )


def local_path_helper_pod(image: str) -> str:
    """The provisioner's helper pod: it makes and removes volume folders on the node.

    The image must be named here: the provisioner takes this file's image over its
    --helper-image flag.
    """
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
            "containers": [{"name": "helper-pod", "image": image, "imagePullPolicy": "Never"}],
        },
    }
    return yaml.safe_dump(pod, sort_keys=False)


# Kept beside the provisioner in its namespace: the scripts its helper pods run.
LOCAL_PATH_SCRIPTS = {
    "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
    "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
}
