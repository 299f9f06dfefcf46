"""`storefleet dev ...`: the local stack of real servers."""

from __future__ import annotations

import shlex
import signal
import sys
import threading

import click

from storefleet.dev import stack
from storefleet.dev.components import COMPONENTS

_names = click.argument("components", nargs=-1, type=click.Choice(list(COMPONENTS)))


@click.group()
def cli() -> None:
    """Developer tooling: the local stack of real servers."""


@cli.group(name="stack")
def stack_group() -> None:
    """Build, start, stop and inspect the local stack (all components if none named)."""


@stack_group.command()
@_names
def install(components: tuple[str, ...]) -> None:
    """Build or install the servers once, into ~/.cache/storefleet."""
    stack.install(components, report=_err)


@stack_group.command()
@_names
def up(components: tuple[str, ...]) -> None:
    """Start the servers (idempotent) and print their environment."""
    stack.up(components, report=_err)
    _print_env(components)


@stack_group.command()
@_names
def down(components: tuple[str, ...]) -> None:
    """Stop the servers this stack started, by pid."""
    stack.down(components, report=_err)


@stack_group.command()
@_names
def status(components: tuple[str, ...]) -> None:
    """Say which servers run, where they listen and their pids; exit 1 if any is down."""
    statuses = stack.status(components)
    for item in statuses:
        pids = ", ".join(f"{name}={pid}" for name, pid in item.pids.items()) or "-"
        state = "running" if item.running else "stopped"
        click.echo(f"{item.name:<11} {state:<8} {item.detail}  pids: {pids}")
    if not all(item.running for item in statuses):
        sys.exit(1)


@stack_group.command(name="env")
@_names
def env_command(components: tuple[str, ...]) -> None:
    """Print `export` lines for the servers' clients: eval "$(storefleet dev stack env)"."""
    _print_env(components)


@cli.command()
def run() -> None:
    """Start the whole stack, show it, and stop what was started on Ctrl-C."""
    started = stack.up(report=_err)
    _print_env(())
    _err("\nThe stack is up. Press Ctrl-C to stop what this command started.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if started:
            stack.down(started, report=_err)


def _print_env(components: tuple[str, ...]) -> None:
    for key, value in stack.env(components).items():
        click.echo(f"export {key}={shlex.quote(value)}")


def _err(message: str) -> None:
    click.echo(message, err=True)
