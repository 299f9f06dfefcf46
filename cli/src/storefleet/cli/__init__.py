"""The `storefleet` console script.

One entry point for every part: `storefleet operator ...`, `storefleet runtime ...`
and `storefleet dev ...`. Each part is its own distribution and registers its click
group under the `storefleet.commands` entry-point group; this module only mounts the
parts that are installed, importing one when its command is used. The runtime image
installs the runtime alone, so there `storefleet operator` is no command at all.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

GROUP = "storefleet.commands"


def parts() -> dict[str, EntryPoint]:
    """The installed parts, by command name."""
    return {point.name: point for point in entry_points(group=GROUP)}


def _summary(point: EntryPoint) -> str:
    # The distribution's one-line description, so listing the commands imports none.
    return point.dist.metadata["Summary"] if point.dist is not None else ""


class _PartsGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(parts())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        point = parts().get(cmd_name)
        if point is None:
            return None
        command = point.load()
        if not isinstance(command, click.Command):
            raise TypeError(f"entry point {point.value} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _summary(point)) for name, point in sorted(parts().items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_PartsGroup)
def main() -> None:
    """Storefleet: multi-tenant e-commerce storefronts on Kubernetes."""
