"""The fixtures say only what the operator can write.

A fixture is a Store captured from the operator (tests/unit/argocd/capture.py); one
edited by hand, or captured from an older operator, would test the health script on
a status no Store has. This reads what the operator can write from its source:

- condition types: status.CONDITION_ORDER, in that order;
- reasons: the CamelCase string literals of operator/ (every reason is one);
- messages: each must match one of the operator's sentence-like string literals or
  f-strings, a formatted value standing for any text;
- Ready and servicesReady follow from the other conditions and the services, as
  status.ready_condition and status.compute make them.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

import pytest
from argocd_health import EXPECTED, FIXTURES, ROOT, fixture

from storefleet.operator import status

# A formatted value that is free text (a nested message, an error, a fallback's
# description) stands for anything; any other (a name, a count, a version, a plan)
# for one token, or a comma-separated list of them.
TEXT = "(?:.*)"
VALUE = r"(?:[^\s;:,]+(?:, [^\s;:,]+)*)"
FREE_TEXT = ("message", "fallback", "exc", "error", "detail", "reason")
# A pattern must carry this much literal text: "{key}: {error}" would match anything.
MIN_LITERAL = 8


def _pattern(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_pattern(value) for value in node.values)
    if isinstance(node, ast.FormattedValue):
        source = ast.unparse(node.value)
        return TEXT if any(word in source for word in FREE_TEXT) else VALUE
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pattern(node.left) + _pattern(node.right)
    if (  # sep.join(f"..." for ...): the item's pattern, repeated
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and len(node.args) == 1
    ):
        separator = re.escape(node.func.value.value)
        argument = node.args[0]
        item = VALUE
        if isinstance(argument, ast.GeneratorExp | ast.ListComp) and isinstance(
            argument.elt, ast.JoinedStr | ast.BinOp
        ):
            item = _pattern(argument.elt)
        if node.func.value.value.strip() == "":
            item = TEXT
        return f"(?:{item}(?:{separator}{item})*)?"
    return TEXT


def _literal(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(value) for value in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) + _literal(node.right)
    return ""


def _sources() -> list[ast.Module]:
    return [ast.parse(path.read_text()) for path in sorted((ROOT / "operator").rglob("*.py"))]


@cache
def reasons() -> frozenset[str]:
    found = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Z][a-z]+(?:[A-Z0-9][a-z0-9]*)*", node.value)
            ):
                found.add(node.value)
    return frozenset(found)


@cache
def message_patterns() -> tuple[re.Pattern[str], ...]:
    found = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant | ast.JoinedStr | ast.BinOp):
                continue
            literal = _literal(node)
            if len(literal) >= MIN_LITERAL and " " in literal:
                found.add(_pattern(node))
    return tuple(re.compile(p, re.DOTALL) for p in sorted(found))


def writable(message: str) -> bool:
    return any(p.fullmatch(message) for p in message_patterns())


def conditions_of(store: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (store.get("status") or {}).get("conditions") or []
    return found


def all_fixtures() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_fixture_is_tested_and_every_tested_state_has_a_fixture() -> None:
    assert all_fixtures() == sorted(EXPECTED)


@pytest.mark.parametrize("name", all_fixtures())
def test_a_fixture_has_only_condition_types_and_reasons_the_operator_writes(name: str) -> None:
    store = fixture(name)
    types = [c["type"] for c in conditions_of(store)]
    assert set(types) <= set(status.CONDITION_ORDER), f"unknown condition types in {name}"
    assert types == sorted(types, key=status.CONDITION_ORDER.index), "not in the operator's order"
    written = [c["reason"] for c in conditions_of(store)]
    if phase_reason := (store.get("status") or {}).get("phaseReason"):
        written.append(phase_reason)
    unknown = set(written) - reasons()
    assert unknown == set(), f"{name}: reasons the operator never writes"


@pytest.mark.parametrize("name", all_fixtures())
def test_a_fixtures_messages_are_ones_the_operator_writes(name: str) -> None:
    stale = [
        f"{c['type']}: {c['message']}"
        for c in conditions_of(fixture(name))
        if not writable(c["message"])
    ]
    assert stale == [], (
        f"{name}.json has messages no operator code writes; "
        "recapture with `python tests/unit/argocd/capture.py`"
    )


@pytest.mark.parametrize("name", all_fixtures())
def test_a_fixtures_ready_condition_follows_from_the_others(name: str) -> None:
    store = fixture(name)
    found = conditions_of(store)
    if not found:
        return
    by_type = {c["type"]: c for c in found}
    others = [
        status.Condition(c["type"], c["status"], c["reason"], c["message"])
        for c in found
        if c["type"] != "Ready"
    ]
    # The spec the status was written for: a later one may have changed spec.suspend.
    if store["status"].get("observedGeneration") == store["metadata"]["generation"]:
        suspended = bool(store["spec"].get("suspend"))
    else:
        suspended = by_type.get("RuntimeReady", {}).get("reason") == "Suspended"
    ready = status.ready_condition(others, suspended)
    assert {k: by_type["Ready"][k] for k in ("status", "reason", "message")} == {
        "status": ready.status,
        "reason": ready.reason,
        "message": ready.message,
    }
    services = store["status"]["services"]
    available = sum(1 for s in services if s["available"])
    assert store["status"]["servicesReady"] == f"{available}/{len(services)}"


def test_the_vocabulary_catches_a_stale_message() -> None:
    """The check itself: what an older operator wrote is refused, what this one writes is not."""
    assert not writable(
        "spec.cache.enabled is true, but this operator has no cache provisioner yet; "
        "the runtime uses its in-memory cache"
    )
    assert writable("spec.cache is not enabled; the runtime uses its in-memory cache")
    assert "ProvisionerNotAvailable" not in reasons()
    assert {"AllReady", "Applied", "Progressing", "Suspended", "StoreDeleted"} <= reasons()
