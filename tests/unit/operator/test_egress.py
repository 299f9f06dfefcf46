"""Egress by address: a tenant's pods reach the servers it is configured for and
no other address on those ports."""

from __future__ import annotations

import pytest

from storefleet.operator.egress import Destination, addresses, peers, policies, resolve


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("postgresql://admin:pw@db.example.net:6432/postgres", [("db.example.net", 6432)]),
        ("redis://:pw@10.0.0.7/0", [("10.0.0.7", 6379)]),
        ("k1.example:9092, k2.example:9093,", [("k1.example", 9092), ("k2.example", 9093)]),
        ("https://vault.example", [("vault.example", 443)]),
        ("http://[2001:db8::1]:8200", [("2001:db8::1", 8200)]),
        ("no-port-here", []),
        ("tcp://host:notaport", []),
    ],
)
def test_addresses_of_a_server_setting(value: str, found: list[tuple[str, int]]) -> None:
    assert addresses(value, 6379 if value.startswith("redis") else None) == found


def test_a_service_name_is_its_namespace_and_an_address_itself() -> None:
    assert peers("pg.shared-data.svc.cluster.local", {}) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shared-data"}}}
    ]
    assert peers("198.18.0.1", {}) == [{"ipBlock": {"cidr": "198.18.0.1/32"}}]
    assert peers("smtp.example.com", {"smtp.example.com": ["192.0.2.1", "2001:db8::2"]}) == [
        {"ipBlock": {"cidr": "192.0.2.1/32"}},
        {"ipBlock": {"cidr": "2001:db8::2/128"}},
    ]
    # A name nobody resolved opens nothing.
    assert peers("smtp.example.com", {}) == []


async def test_names_resolve_once_and_a_failure_opens_nothing() -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        if host == "gone.example":
            raise OSError("Name or service not known")
        return ["192.0.2.9"]

    destinations = [
        Destination("kafka.example", 9092, "events"),
        Destination("kafka.example", 9092, "events"),
        Destination("10.1.2.3", 5432, "database"),
        Destination("gone.example", 587, "spec.notifications.smtp", "notifications"),
    ]
    resolved = await resolve(destinations, resolver)
    assert asked == ["kafka.example", "gone.example"]
    assert resolved == {"kafka.example": ["192.0.2.9"]}
    found = policies(destinations, resolved)
    # The notifications policy had no destination it could name: it is not rendered.
    assert found == [
        {
            "name": "allow-integrations",
            "service": None,
            "rules": [
                {"why": "events", "to": [{"ipBlock": {"cidr": "192.0.2.9/32"}}], "port": 9092},
                {"why": "database", "to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "port": 5432},
            ],
        }
    ]


async def test_the_system_resolver_answers_for_this_machine() -> None:
    from storefleet.operator.egress import system_resolver

    assert "127.0.0.1" in await system_resolver("localhost", 80)
