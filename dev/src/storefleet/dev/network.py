"""The dev stack's addresses: one place for every range the cluster uses.

All of them sit in 198.18.0.0/15, the range RFC 2544 reserves for benchmarking,
so no pod, Service or fake-node address can collide with a real network this
machine is on, and nothing the cluster does is ever sent to someone else's
address. The real node's pods live on a bridge the stack creates; the host
forwards nothing from that bridge to any other interface.
"""

from __future__ import annotations

from typing import Final

# The real node's pod network: a bridge on the host, pods in their own network
# namespaces with addresses from host-local IPAM.
BRIDGE: Final = "sfbr0"
POD_CIDR: Final = "198.18.0.0/24"
# The bridge's own address: the pods' gateway, the node's InternalIP, and where
# the host-side servers pods need (cluster DNS, the kubelet) listen.
NODE_IP: Final = "198.18.0.1"
NODE_PREFIX: Final = 24

# Addresses KWOK hands to pods on fake nodes: never routed anywhere.
FAKE_POD_CIDR: Final = "198.18.128.0/17"

# ClusterIPs; the first is the `kubernetes` Service's.
SERVICE_CIDR: Final = "198.19.0.0/16"
SERVICE_IP: Final = "198.19.0.1"

CLUSTER_DOMAIN: Final = "cluster.local"
# Cluster DNS answers on the bridge address, where every pod can reach it.
DNS_IP: Final = NODE_IP
