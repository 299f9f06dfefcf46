"""Where a tenant's pods may connect beyond their namespace, by address.

A NetworkPolicy that opens a port to any address lets a compromised pod reach
every server in the world on it. Each destination a Store is configured for is
named instead: the shared servers the operator provisions on (every pod of the
store), and the servers its spec names (the mail server, the SMS and push
webhooks, the payment gateway: only the pods of the service that calls them).

A NetworkPolicy takes addresses, not names, so each host becomes peers when the
objects are rendered: an IP address is itself (a /32 or /128), a cluster
Service (``name.namespace.svc[.cluster.local]``) is its namespace, and any
other name is resolved by the reconcile, every address it has. A name that does not
resolve opens nothing (a warning says which); addresses that change are
followed on the next pass (the drift timer's), so a name behind a CDN can lag
by that long.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_SECONDS: Final = 5.0
# The ports of URL schemes a server setting may leave implicit.
SCHEME_PORTS: Final = {"https": 443, "http": 80}

Resolver = Callable[[str, int], Awaitable[list[str]]]
Peer = dict[str, Any]


@dataclass(frozen=True)
class Destination:
    host: str
    port: int
    # What it is, for the policy's annotation and for logs ("database", "spec.payments").
    why: str
    # Only this service's pods connect to it; None: every pod of the store.
    service: str | None = None


def addresses(value: str, default_port: int | None = None) -> list[tuple[str, int]]:
    """``(host, port)`` of each server in a setting: a URL or DSN, ``host:port``, or a
    comma-separated list of them (Kafka's bootstrap servers). Unparseable parts and
    parts without a port (and no default) are left out."""
    found = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        split = urlsplit(part if "://" in part else f"tcp://{part}")
        try:
            port = split.port or SCHEME_PORTS.get(split.scheme) or default_port
        except ValueError:
            continue
        if split.hostname and port:
            found.append((split.hostname, int(port)))
    return found


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _ip_block(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Peer:
    return {"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}


def cluster_namespace(host: str) -> str | None:
    """The namespace of a cluster Service's name (``name.namespace.svc[...]``)."""
    labels = host.rstrip(".").split(".")
    if len(labels) >= 3 and labels[2] == "svc":
        return labels[1]
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the operator's resolver gives for a name."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
    )
    return sorted({str(info[4][0]) for info in infos})


def _named(destination: Destination) -> bool:
    """Whether a destination's host is a name to resolve (not an address or a Service)."""
    return _address(destination.host) is None and cluster_namespace(destination.host) is None


async def resolve(
    destinations: Iterable[Destination], resolver: Resolver = system_resolver
) -> dict[str, list[str]]:
    """The addresses of every name among the destinations' hosts; a name that does
    not resolve is left out, with a warning."""
    found: dict[str, list[str]] = {}
    for destination in destinations:
        if not _named(destination) or destination.host in found:
            continue
        try:
            found[destination.host] = await resolver(destination.host, destination.port)
        except (OSError, LookupError, TimeoutError) as exc:
            log.warning(
                "egress to %s (%s) stays closed: %s does not resolve (%s)",
                destination.why,
                destination.port,
                destination.host,
                exc,
            )
    return found


def peers(host: str, resolved: Mapping[str, Sequence[str]]) -> list[Peer]:
    """The NetworkPolicy peers a host stands for ([] for a name not resolved)."""
    if (address := _address(host)) is not None:
        return [_ip_block(address)]
    if (namespace := cluster_namespace(host)) is not None:
        return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]
    return [_ip_block(a) for a in map(_address, resolved.get(host, ())) if a is not None]


def policies(
    destinations: Iterable[Destination], resolved: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """One NetworkPolicy per set of pods (the store's, or one service's) with a rule
    per destination it can name: ``{name, service, rules: [{why, to, port}]}``. An
    offline render passes no resolved names: only addresses and Services appear."""
    found: dict[str | None, list[dict[str, Any]]] = {}
    seen: set[Destination] = set()
    for destination in destinations:
        if destination in seen:
            continue
        seen.add(destination)
        if to := peers(destination.host, resolved):
            rule = {"why": destination.why, "to": to, "port": destination.port}
            found.setdefault(destination.service, []).append(rule)
    return [
        {
            "name": "allow-integrations" if service is None else f"allow-{service}-integrations",
            "service": service,
            "rules": rules,
        }
        for service, rules in found.items()
    ]


def of_servers(servers: Sequence[tuple[str, str | None, int | None]]) -> list[Destination]:
    """Destinations of every pod from ``(block, its server setting, default port)``."""
    return [
        Destination(host, port, block)
        for block, value, default in servers
        if value
        for host, port in addresses(value, default)
    ]
