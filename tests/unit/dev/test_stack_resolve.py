from __future__ import annotations

import pytest

from storefleet.dev.components import COMPONENTS
from storefleet.dev.stack import UnknownComponent, resolve


def names(components: list[object]) -> list[str]:
    return [component.name for component in components]  # type: ignore[attr-defined]


def test_everything_when_nothing_is_named() -> None:
    everything = names(resolve())
    assert everything == list(COMPONENTS)
    assert everything[:2] == ["kubernetes", "kwok"], "the control plane starts before its nodes"


def test_a_component_brings_what_it_requires_first() -> None:
    assert names(resolve(["kwok"])) == ["kubernetes", "kwok"]


def test_only_what_is_named() -> None:
    assert names(resolve(["redis"])) == ["redis"]


def test_an_unknown_component_is_refused_with_the_choices() -> None:
    with pytest.raises(UnknownComponent, match=r"unknown component.*kafak.*choose from"):
        resolve(["kafak"])


def test_stopping_a_component_stops_what_requires_it_and_nothing_it_requires() -> None:
    assert names(resolve(["kubernetes"], with_dependents=True)) == [
        "kubernetes",
        "kwok",
        "node",
        "netpol",
        "relay",
        "ingress",
        "platform-crds",
    ]
    assert names(resolve(["kwok"], with_dependents=True)) == ["kwok"]
    assert names(resolve(["node"])) == ["kubernetes", "node"]
    assert names(resolve(["node"], with_dependents=True)) == ["node", "netpol", "relay", "ingress"]
    assert names(resolve(["ingress"])) == ["kubernetes", "node", "ingress"]
    assert names(resolve(["netpol"])) == ["kubernetes", "node", "netpol"]
