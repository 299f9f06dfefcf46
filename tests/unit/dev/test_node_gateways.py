"""What the real node's relay and Ingress controller are told to listen on: the
bridge address and loopback, never every address."""

from __future__ import annotations

import re

from storefleet.dev.components.ingress import GLOBAL_CONFIG
from storefleet.dev.components.relay import RELAYED, haproxy_config
from storefleet.dev.network import NODE_IP


def test_the_relay_binds_each_server_on_the_bridge_address_and_forwards_to_loopback() -> None:
    config = haproxy_config({"postgres": 15432, "kubernetes": 16443})
    binds = re.findall(r"^\s+bind (\S+)$", config, re.M)
    servers = re.findall(r"^\s+server \S+ (\S+)$", config, re.M)
    assert binds == [f"{NODE_IP}:15432", f"{NODE_IP}:16443"]
    assert servers == ["127.0.0.1:15432", "127.0.0.1:16443"]
    assert "mode tcp" in config


def test_the_relay_carries_the_api_server_the_datastores_kafka_and_mail() -> None:
    assert {"kubernetes", "postgres", "redis", "vault", "keycloak", "smtp", "kafka"} == set(RELAYED)


def test_every_listener_of_the_ingress_controllers_haproxy_is_on_loopback() -> None:
    binds = {key: value for key, value in GLOBAL_CONFIG.items() if key.startswith("bind-ip-addr")}
    assert set(binds.values()) == {"127.0.0.1"}
    assert {"bind-ip-addr-http", "bind-ip-addr-stats", "bind-ip-addr-healthz"} <= set(binds)
    assert GLOBAL_CONFIG["ssl-redirect"] == "false"
