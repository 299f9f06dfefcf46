"""`storefleet runtime ...`: serve the services, load the demo catalog."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click


@click.group()
def cli() -> None:
    """Serve the commerce runtime's services."""


@cli.command()
@click.argument(
    "service",
    type=click.Choice(
        [
            "catalog",
            "cart",
            "storefront",
            "accounts",
            "orders",
            "payments",
            "notifications",
            "vendors",
            "analytics",
            "all",
        ]
    ),
)
@click.option(
    "--host",
    envvar="STOREFLEET_HOST",
    default=None,
    help="Default: 0.0.0.0 in a Kubernetes pod, else 127.0.0.1",
)
@click.option(
    "--port",
    envvar="STOREFLEET_PORT",
    type=int,
    default=None,
    help="Default: 8000 (all, storefront), 8001 (catalog), 8002 (cart), 8003 (accounts), "
    "8004 (orders), 8005 (payments), 8006 (notifications), 8007 (vendors), "
    "8008 (analytics)",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="With `all`: load the demo catalog into an empty shop.",
)
def serve(service: str, host: str | None, port: int | None, demo: bool) -> None:
    """Serve SERVICE (or all of them in one process) with uvicorn."""
    import uvicorn

    from storefleet.runtime.platform.config.settings import ServiceSettings, in_kubernetes
    from storefleet.runtime.platform.config.vaultenv import SecretsUnavailableError, load_secret_env
    from storefleet.runtime.platform.telemetry.observability import configure_logging
    from storefleet.runtime.serve import DEFAULT_PORTS, build_all, build_service

    try:
        # Before any settings are read: they may come from Vault.
        from_vault = load_secret_env()
    except SecretsUnavailableError as exc:
        raise click.ClickException(str(exc)) from exc
    port = port or DEFAULT_PORTS[service]
    host = host or ("0.0.0.0" if in_kubernetes() else "127.0.0.1")
    base = ServiceSettings()
    configure_logging(f"storefleet-{service}", base.log_level, base.log_json)
    from storefleet.runtime.platform.telemetry.tracing import configure_tracing

    configure_tracing(f"storefleet-{service}")
    if from_vault:
        logging.getLogger("storefleet.runtime").info(
            "read %d settings from Vault", len(from_vault), extra={"names": from_vault}
        )
    from storefleet.runtime.platform.web.heap import settled_after_startup
    from storefleet.runtime.standins import StandInRefused, refuse_in_pod

    try:
        refuse_in_pod(service)
    except StandInRefused as exc:
        logging.getLogger("storefleet.runtime").critical(str(exc))
        raise click.ClickException(str(exc)) from exc
    app = build_all(demo=demo) if service == "all" else build_service(service)
    uvicorn.run(
        settled_after_startup(app),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


@cli.command("settings-docs")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Default: stdout.")
@click.option("--check", is_flag=True, help="Fail if --output is not up to date.")
def settings_docs(output: Path | None, check: bool) -> None:
    """Write the runtime's settings reference (docs/runtime-settings.md) from the code."""
    from storefleet.runtime.platform.config.settings_reference import reference

    text = reference()
    if output is None:
        click.echo(text, nl=False)
    elif check:
        if not output.exists() or output.read_text() != text:
            raise click.ClickException(f"{output} is stale: run without --check to rewrite it")
    else:
        output.write_text(text)


@cli.command("import-demo")
@click.option("--products", type=click.IntRange(1, 100_000), default=600, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def import_demo_command(products: int, seed: int) -> None:
    """Load the generated demo catalog into the catalog's database (if empty)."""
    from storefleet.runtime.catalog.app import MIGRATIONS, VERSION_TABLE
    from storefleet.runtime.catalog.demo import import_demo
    from storefleet.runtime.catalog.service import CatalogService
    from storefleet.runtime.catalog.settings import CatalogSettings
    from storefleet.runtime.platform.config.settings import StoreSettings
    from storefleet.runtime.platform.storage.db import Database

    async def run() -> int:
        settings = CatalogSettings()
        db = Database(settings.resolved_database_url())
        try:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
            # Priced in the store's currency: the catalog refuses any other.
            service = CatalogService(db, settings, currency=StoreSettings().currency)
            return await import_demo(service, count=products, seed=seed)
        finally:
            await db.dispose()

    imported = asyncio.run(run())
    if imported:
        click.echo(f"imported {imported} products")
    else:
        click.echo("the catalog already has products; nothing imported")
