"""The dev stack as a whole: which components, in which order, and their env."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from storefleet.dev.components import COMPONENTS, Component, Status


class UnknownComponent(ValueError):
    """A component name the stack does not know."""


def resolve(names: Iterable[str] = (), *, with_dependents: bool = False) -> list[Component]:
    """The named components plus what they require, in start order (all if none named).

    with_dependents: plus, instead, what requires them — what must stop with them.
    """
    wanted = list(names) or list(COMPONENTS)
    unknown = [name for name in wanted if name not in COMPONENTS]
    if unknown:
        raise UnknownComponent(
            f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}"
        )
    ordered: list[str] = []

    def related(name: str) -> list[str]:
        if with_dependents:
            return [other for other, kind in COMPONENTS.items() if name in kind.requires]
        return list(COMPONENTS[name].requires)

    def visit(name: str) -> None:
        if name in ordered:
            return
        ordered.append(name)
        for other in related(name):
            visit(other)

    for name in wanted:
        visit(name)
    # Keep the registry's order among what was chosen: it is a valid start order.
    return [COMPONENTS[name]() for name in COMPONENTS if name in ordered]


def install(names: Iterable[str] = (), report: Callable[[str], None] = print) -> None:
    for component in resolve(names):
        started = time.monotonic()
        component.install()
        report(f"{component.name}: installed ({time.monotonic() - started:.1f}s)")


def up(names: Iterable[str] = (), report: Callable[[str], None] = print) -> list[str]:
    """Start what is not running; return the names of components this call started."""
    started_now: list[str] = []
    for component in resolve(names):
        was_running = component.running()
        began = time.monotonic()
        component.up()
        if not was_running:
            started_now.append(component.name)
        state = "already running" if was_running else f"up ({time.monotonic() - began:.1f}s)"
        report(f"{component.name}: {state} — {component.describe()}")
    return started_now


def down(names: Iterable[str] = (), report: Callable[[str], None] = print) -> None:
    for component in reversed(resolve(names, with_dependents=True)):
        stopped = component.down()
        report(f"{component.name}: {'stopped ' + ', '.join(stopped) if stopped else 'not running'}")


def status(names: Iterable[str] = ()) -> list[Status]:
    return [component.status() for component in resolve(names)]


def env(names: Iterable[str] = ()) -> dict[str, str]:
    merged: dict[str, str] = {}
    for component in resolve(names):
        merged.update(component.env())
    return merged
