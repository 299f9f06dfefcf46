"""The stack's servers on the real node's bridge address, for its pods.

The servers (API server, PostgreSQL, Redis, Kafka, Vault, Keycloak, the SMTP
sink) listen on loopback only, where no pod can reach them. HAProxy
(from Debian's package) relays TCP from the bridge address to each of them: a
pod dials ``198.18.0.1:<port>`` as it would a server on its cluster's network,
and nothing new listens on any other interface. The API server advertises that
address, so the `kubernetes` Service's endpoint is this relay too, and
in-cluster clients (the operator's pods) talk to the control plane as they do
in any cluster.

Kafka clients go on to the address the broker advertises, so pods bootstrap at
the broker's NODE listener, which advertises this address (components/kafka.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from storefleet.dev.components import kafka, keycloak, postgres, redis, smtp, vault
from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import APISERVER_PORT
from storefleet.dev.debian import ensure_packages
from storefleet.dev.network import NODE_IP
from storefleet.dev.processes import port_open, wait_until

# What pods may reach on the node's address: server name -> its loopback port
# (the same port on the bridge address).
RELAYED: Final[dict[str, int]] = {
    "kubernetes": APISERVER_PORT,
    "postgres": postgres.PORT,
    "redis": redis.PORT,
    "vault": vault.PORT,
    "keycloak": keycloak.PORT,
    "smtp": smtp.PORT,
    # The broker's NODE listener, which advertises this address (see kafka.py).
    "kafka": kafka.NODE_PORT,
}


def haproxy_config(relayed: dict[str, int]) -> str:
    """HAProxy in TCP mode: one listener per server, bound to the bridge address."""
    lines = [
        "global",
        "    log stdout format raw local0 notice",
        "    user haproxy",
        "    group haproxy",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    timeout connect 5s",
        # Long enough for watches and Kafka-free event streams to idle.
        "    timeout client 1h",
        "    timeout server 1h",
    ]
    for name, port in relayed.items():
        lines += [
            "",
            f"listen {name}",
            f"    bind {NODE_IP}:{port}",
            f"    server {name} 127.0.0.1:{port}",
        ]
    return "\n".join(lines) + "\n"


class Relay(Component):
    name = "relay"
    requires = ("node",)
    process_names = ("haproxy",)

    @property
    def config(self) -> Path:
        return self.directory / "haproxy.cfg"

    def install(self) -> None:
        ensure_packages(["haproxy"], "/usr/sbin/haproxy")

    def up(self) -> None:
        self.install()
        proc = self.process("haproxy")
        self.directory.mkdir(parents=True, exist_ok=True)
        text = haproxy_config(RELAYED)
        if proc.running() and self.config.exists() and self.config.read_text() == text:
            return
        proc.stop()
        self.config.write_text(text)
        # -db: stay in the foreground, so the pid file names the server itself.
        proc.start(["/usr/sbin/haproxy", "-db", "-f", str(self.config)])
        wait_until(
            lambda: port_open(APISERVER_PORT, NODE_IP),
            process=proc,
            what=f"{NODE_IP}:{APISERVER_PORT}",
            timeout=20,
        )

    def env(self) -> dict[str, str]:
        return {f"STOREFLEET_NODE_{name.upper()}_PORT": str(port) for name, port in RELAYED.items()}

    def describe(self) -> str:
        ports = ", ".join(f"{name} {port}" for name, port in RELAYED.items())
        return f"{NODE_IP}: {ports}"
