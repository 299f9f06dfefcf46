"""Every event type the runtime publishes has a contract, and the contracts mean it.

The published types are read from the code, not from a list: each call that
writes an event to an outbox — a context's ``emit(session, <type>, ...)`` or
``_emit`` (the catalog's ``Changes.emit`` and its admin's ``_product_written``;
the accounts' and vendors' ``changes.emit``), an ``Event(<type>, ...)``, the
orders' ``EVENTS`` table — is found in the source and its type worked out: a
string, an f-string (its fixed parts, checked as a pattern), or a local
variable (the strings assigned to it). A call whose type cannot be worked out
fails the test, so a new way of publishing is seen.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from storefleet.runtime.orders.states import EVENTS
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.contracts import CONTRACTS, ContractViolation

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "runtime/src/storefleet/runtime"
DOCS = ROOT / "docs" / "events.md"
# Functions that publish: where their type argument is, and what goes before it.
PUBLISHERS = {"_emit": (1, ""), "emit": (1, ""), "_product_written": (2, ""), "Event": (0, "")}
# Functions that pass on a type someone else chose: the publishing functions themselves,
# and the orders' transition (its types are states.EVENTS, checked below).
PASSING_ON = {"_emit", "emit", "_product_written", "transition"}


@dataclass(frozen=True)
class Site:
    where: str
    types: frozenset[str]  # exact types, or patterns with ``*`` for f-string parts
    unresolved: str = ""


def _strings(node: ast.expr) -> set[str] | None:
    """The strings an expression can be, or None if that cannot be read off it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.JoinedStr):
        return {
            "".join(
                str(part.value) if isinstance(part, ast.Constant) else "*" for part in node.values
            )
        }
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        return None if body is None or orelse is None else body | orelse
    return None


def _assigned(function: ast.AST, name: str) -> set[str] | None:
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            strings = _strings(node.value)
            if strings is None:
                return None
            found |= strings
    return found or None


def published_sites() -> list[Site]:
    sites = []
    for path in sorted(RUNTIME.rglob("*.py")):
        relative = path.relative_to(RUNTIME)
        if relative.parts[0] == "platform" or "migrations" in relative.parts:
            continue  # the bus and outbox carry events; they publish none of their own
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if function.name in PASSING_ON:
                continue
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                func = call.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                position, prefix = PUBLISHERS.get(name, (-1, ""))
                if position < 0:
                    continue
                argument = next((k.value for k in call.keywords if k.arg == "type"), None)
                if argument is None and len(call.args) > position:
                    argument = call.args[position]
                if argument is None:
                    continue
                where = f"runtime/{relative}:{call.lineno}"
                strings = _strings(argument)
                if strings is None and isinstance(argument, ast.Name):
                    strings = _assigned(function, argument.id)
                if strings is None:
                    sites.append(Site(where, frozenset(), ast.unparse(argument)))
                    continue
                sites.append(Site(where, frozenset(prefix + s for s in strings)))
    sites.append(Site("storefleet.runtime.orders.states: EVENTS", frozenset(EVENTS.values())))
    return sites


def test_the_publishing_calls_are_found() -> None:
    """The search itself works: it sees each context's publishing."""
    types = {t for site in published_sites() for t in site.types}
    for expected in (
        "order.placed",
        "order.paid",
        "payment.captured",
        "account.verification_requested",
        "catalog.product_created",
        "catalog.reservation_*",
        "cart.abandoned",
        "vendor.suspended",
        "notification.*",
    ):
        assert expected in types, sorted(types)


def test_every_published_event_type_has_a_contract() -> None:
    sites = published_sites()
    unresolved = [f"{site.where}: {site.unresolved}" for site in sites if site.unresolved]
    assert not unresolved, (
        f"event types these calls publish cannot be read off the code: {unresolved}; "
        "pass a string (or a local variable assigned strings)"
    )
    missing = [
        f"{site.where}: {published}"
        for site in sites
        for published in sorted(site.types)
        if not (
            fnmatch.filter(CONTRACTS, published) if "*" in published else published in CONTRACTS
        )
    ]
    assert not missing, (
        f"published without a contract: {missing}; add the payload to "
        "storefleet.runtime.platform.events.contracts CONTRACTS and to docs/events.md"
    )


def test_every_contract_is_for_a_type_the_code_publishes() -> None:
    patterns = {t for site in published_sites() for t in site.types}
    stale = [
        contract
        for contract in CONTRACTS
        if not any(fnmatch.fnmatchcase(contract, pattern) for pattern in patterns)
    ]
    assert not stale, f"contracts for types nothing publishes: {stale}"


def test_every_contracted_type_is_in_the_docs() -> None:
    text = DOCS.read_text()
    named = set(re.findall(r"`([a-z]+\.[a-z_]+)`", text))
    undocumented = sorted(set(CONTRACTS) - named)
    assert not undocumented, f"docs/events.md does not name {undocumented}"


def test_the_documented_example_keeps_its_contract() -> None:
    text = DOCS.read_text()
    example = text.split("Example (`order.paid`, `data` only):", 1)[1]
    body = example.split("```json", 1)[1].split("```", 1)[0]
    contracts.check("order.paid", json.loads(body))


PAID = {
    "order_id": "9f0c6d1e",
    "store": "acme",
    "customer_id": None,
    "email": "ada@example.com",
    "status": "paid",
    "currency": "EUR",
    "subtotal_minor": 2500,
    "discount_minor": 0,
    "shipping_minor": 495,
    "tax_minor": 599,
    "total_minor": 3594,
    "authorized_minor": 3594,
    "captured_minor": 3594,
    "refunded_minor": 0,
    "product_ids": [7],
    "lines": [
        {
            "sku": "TEA-1",
            "product_id": 7,
            "product_slug": "green-tea",
            "product_name": "Green Tea",
            "variant_name": "",
            "quantity": 2,
            "unit_price_minor": 1250,
            "line_total_minor": 2500,
        }
    ],
}


@pytest.mark.parametrize(
    ("drift", "why"),
    [
        ({"total_minor": 35.94}, "money as a float"),
        ({"total_minor": "3594"}, "money as text"),
        ({"captured_minor": -1}, "a negative amount"),
        ({"currency": "eur"}, "not an ISO 4217 code"),
        ({"lines": [{**PAID["lines"][0], "name": "Green Tea", "product_name": None}]}, "a line"),
    ],
)
def test_a_drifted_payload_is_refused(drift: dict[str, object], why: str) -> None:
    with pytest.raises(ContractViolation):
        contracts.check("order.paid", {**PAID, **drift})


def test_a_missing_field_an_unknown_type_or_version_is_refused() -> None:
    renamed = {key: value for key, value in PAID.items() if key != "total_minor"}
    with pytest.raises(ContractViolation, match="total_minor"):
        contracts.event("order.paid", {**renamed, "total": 3594}, source="orders")
    with pytest.raises(ContractViolation, match="no contract"):
        contracts.check("order.payd", PAID)
    with pytest.raises(ContractViolation, match="dataversion 2"):
        contracts.event("order.paid", PAID, version=2)


def test_an_added_optional_field_keeps_the_contract() -> None:
    built = contracts.event("order.paid", {**PAID, "order_number": "B-1001"})
    assert built.payload["order_number"] == "B-1001"
    assert contracts.check_event(built) is built


def consumed_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The event types each service subscribes to, read off the apps serve builds."""
    from storefleet.runtime import serve
    from storefleet.runtime.platform.events.outbox import InProcessEventBus

    for name in [key for key in os.environ if key.startswith("STOREFLEET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("STOREFLEET_DATA_DIR", str(tmp_path))
    consumed: dict[str, set[str]] = {}
    for name in sorted(service for service in serve.DEFAULT_PORTS if service != "all"):
        app = serve._service_app(name)
        types: set[str] = set()
        bus = getattr(app.state, "bus", None)
        if isinstance(bus, InProcessEventBus):
            types |= set(bus._handlers)
        consumer = getattr(app.state, "consumer", None)
        if consumer is not None:
            types |= set(consumer.handlers)
        consumed[name] = types - {"*"}
    return consumed


def test_every_consumed_event_type_has_a_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumed = consumed_types(tmp_path, monkeypatch)
    assert {"order.paid", "payment.failed"} <= consumed["notifications"], consumed
    assert "order.paid" in consumed["vendors"], consumed
    assert "order.paid" in consumed["analytics"], consumed
    assert "order.paid" in consumed["catalog"], consumed
    missing = sorted(
        f"{service}: {event_type}"
        for service, types in consumed.items()
        for event_type in types - set(CONTRACTS)
    )
    assert not missing, f"consumed, but no contract says what they carry: {missing}"
