"""`storefleet dev ...`: the local stack of real servers."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

import click

from storefleet.dev import images, stack
from storefleet.dev.components import COMPONENTS
from storefleet.dev.components.node import Node
from storefleet.dev.run import EXAMPLE_STORE

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


@cli.group(name="images")
def images_group() -> None:
    """Container images from images/*/Dockerfile, built with buildah (cached by their inputs)."""


@images_group.command(name="build")
@click.argument("names", nargs=-1, type=click.Choice(list(images.IMAGES)))
@click.option(
    "--load/--no-load",
    default=True,
    show_default=True,
    help="Import them into the real node's containerd when it runs.",
)
def images_build(names: tuple[str, ...], load: bool) -> None:
    """Build the images (all if none named) and print where each archive is."""
    archives = images.build_all(names, report=_err)
    node = Node()
    if load and node.process("containerd").running():
        for archive in archives:
            node.load(archive)
    for archive in archives:
        click.echo(f"{archive.reference}  {archive.path}")


@cli.command()
@click.option(
    "--store",
    "store_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=EXAMPLE_STORE,
    show_default=True,
    help="The Store to apply.",
)
@click.option("--port", type=int, default=8000, show_default=True, help="The shop's port.")
def run(store_file: Path, port: int) -> None:
    """Control plane, operator, a Store reconciled to Ready, and its shop on localhost."""
    from storefleet.dev.run import run as run_everything

    # Ctrl-C and SIGTERM alike end the shop and then stop what was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_everything(store_file, port, report=_err)


def _print_env(components: tuple[str, ...]) -> None:
    for key, value in stack.env(components).items():
        click.echo(f"export {key}={shlex.quote(value)}")


def _err(message: str) -> None:
    click.echo(message, err=True)
