"""The real node's configuration: nothing listens on every address, no range meets a
real network, and the settings this machine needs are there."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import yaml

from storefleet.dev import network, nodeconfig

BENCHMARKING = ipaddress.ip_network("198.18.0.0/15")


def test_every_cluster_range_is_in_the_benchmarking_range() -> None:
    for cidr in (network.POD_CIDR, network.FAKE_POD_CIDR, network.SERVICE_CIDR):
        assert ipaddress.ip_network(cidr).subnet_of(BENCHMARKING), cidr
    assert ipaddress.ip_address(network.NODE_IP) in ipaddress.ip_network(network.POD_CIDR)
    assert ipaddress.ip_address(network.SERVICE_IP) in ipaddress.ip_network(network.SERVICE_CIDR)
    assert not ipaddress.ip_network(network.POD_CIDR).overlaps(
        ipaddress.ip_network(network.FAKE_POD_CIDR)
    )


def test_the_kubelet_listens_on_the_bridge_and_loopback_only() -> None:
    config = yaml.safe_load(
        nodeconfig.kubelet_config(
            ca=Path("/ca.crt"), cert=Path("/k.crt"), key=Path("/k.key"), runtime_socket=Path("/s")
        )
    )
    assert config["address"] == network.NODE_IP
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["readOnlyPort"] == 0
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    # This machine: cgroup v1 without systemd.
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["clusterDNS"] == [network.DNS_IP]


def test_kube_proxy_opens_node_ports_on_the_bridge_address_only() -> None:
    config = yaml.safe_load(nodeconfig.kube_proxy_config(Path("/kubeconfig")))
    assert config["nodePortAddresses"] == [f"{network.NODE_IP}/32"]
    assert config["healthzBindAddress"].startswith("127.0.0.1:")
    assert config["metricsBindAddress"].startswith("127.0.0.1:")


def test_pod_traffic_is_not_masqueraded_out_of_the_machine() -> None:
    bridge = json.loads(nodeconfig.cni_conflist())["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["bridge"] == network.BRIDGE
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": network.POD_CIDR, "gateway": network.NODE_IP}]]


def test_containerd_uses_the_sandbox_image_built_here_and_restricts_oom_adjustment() -> None:
    text = nodeconfig.containerd_config(Path("/state/containerd"), Path("/state/cni"))
    assert f'sandbox_image = "{nodeconfig.PAUSE_IMAGE}"' in text
    assert "restrict_oom_score_adj = true" in text
    assert 'address = "/state/containerd/containerd.sock"' in text
    assert "SystemdCgroup = false" in text


def test_cluster_dns_answers_cluster_names_only_on_the_bridge() -> None:
    corefile = nodeconfig.corefile(Path("/kubeconfig"))
    assert f"bind {network.DNS_IP}" in corefile
    assert "forward" not in corefile
