"""The `storefleet` console script.

One entry point for every part: `storefleet operator ...`, `storefleet runtime ...`
and `storefleet dev ...`. Each part owns its own click group; this module only
mounts them, importing a part when its command is used, so the operator's image
never imports the runtime's web stack and vice versa.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of the click group that serves it
PARTS: dict[str, tuple[str, str]] = {
    "operator": ("storefleet.operator.commands:cli", "Run the Kubernetes operator."),
    "runtime": ("storefleet.runtime.commands:cli", "Serve the commerce runtime's services."),
    "dev": ("storefleet.dev.commands:cli", "The local stack of real servers for development."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(PARTS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in PARTS:
            return None
        target, _ = PARTS[cmd_name]
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(PARTS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
def main() -> None:
    """Storefleet: multi-tenant e-commerce storefronts on Kubernetes."""
