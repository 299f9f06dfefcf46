"""`storefleet operator ...`: run the operator, render a Store offline, install CRDs, docs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from storefleet.operator.settings import OperatorSettings, load_settings


@click.group()
def cli() -> None:
    """The Kubernetes operator that provisions Stores."""


@cli.command()
@click.option(
    "--install-crds/--no-install-crds",
    default=False,
    help="Apply crds/ (server-side) before starting.",
)
def run(install_crds: bool) -> None:
    """Run the operator against the current kubeconfig (or in-cluster)."""
    import kopf

    from storefleet.operator import logs, metrics
    from storefleet.operator.handlers import build_registry
    from storefleet.operator.memo import new_memo

    settings = load_settings()
    logs.configure(settings)
    if install_crds:
        asyncio.run(_install_crds(settings))
    registry = build_registry(settings)
    # Before Kopf: a taken port fails here at once, not in a startup handler Kopf
    # retries every minute.
    metrics.serve(settings.metrics_port)
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    kopf.run(
        registry=registry,
        memo=new_memo(settings),
        clusterwide=True,
        standalone=settings.standalone,
        priority=settings.peering_priority,
        liveness_endpoint=liveness,
    )


@cli.command("rotate-credentials")
@click.argument("store")
def rotate_credentials(store: str) -> None:
    """Rotate a Store's generated credentials (passwords, admin token); the runtime rolls."""
    asyncio.run(_rotate(store))


async def _rotate(store: str) -> None:
    from datetime import UTC, datetime

    from storefleet.operator.kube import Kube, api_client
    from storefleet.operator.provisioning import ROTATE_ANNOTATION

    token = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    api = await api_client()
    try:
        await Kube(api).annotate_store(store, {ROTATE_ANNOTATION: token})
    finally:
        await api.close()
    click.echo(f"store {store}: {ROTATE_ANNOTATION}={token}; the operator rotates on its next pass")


@cli.command("install-crds")
def install_crds() -> None:
    """Apply the CustomResourceDefinitions in crds/ and wait until they are served."""
    asyncio.run(_install_crds(load_settings()))


async def _install_crds(settings: OperatorSettings) -> None:
    from storefleet.operator.crds import install
    from storefleet.operator.kube import api_client

    api = await api_client()
    try:
        names = await install(api, settings.crds_dir, settings.field_manager)
    finally:
        await api.close()
    for name in names:
        click.echo(f"customresourcedefinition {name} established")


@cli.command()
@click.argument("store_file", type=click.File())
@click.option("--istio/--no-istio", default=False, help="Render as if Istio's APIs were served.")
@click.option("--validate/--no-validate", default=True, help="Check each object's schema.")
def render(store_file: Any, istio: bool, validate: bool) -> None:
    """Print the objects a Store (YAML file, or - for stdin) would get, without a cluster."""
    from storefleet.operator import desired, schema, validation
    from storefleet.operator.provisioners.settings import ProvisionerSettings
    from storefleet.operator.provisioning import TenantProvisioning
    from storefleet.operator.render import render as render_objects
    from storefleet.operator.render import to_yaml

    settings = load_settings()
    store = yaml.safe_load(store_file)
    crd = schema.load_crd(settings.crds_dir / "stores.storefleet.io.yaml")
    problems = schema.validate(schema.crd_schema(crd), desired.with_defaults(store, settings))
    if problems:
        raise click.ClickException("the Store does not fit the CRD:\n  " + "\n  ".join(problems))
    context = desired.build(store, desired.ClusterFeatures(istio=istio), settings)
    # What provisioning would hand the templates, with placeholder credentials.
    desired.with_tenancy(context, TenantProvisioning(None, ProvisionerSettings()).offline(context))
    objects = render_objects(context, settings.templates_dir)
    if validate:
        problems = [p for obj in objects for p in validation.check_object(obj)]
        if problems:
            raise click.ClickException("rendered objects are invalid:\n  " + "\n  ".join(problems))
    sys.stdout.write(to_yaml(objects))


@cli.command("crd-docs")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Default: stdout.")
@click.option("--check", is_flag=True, help="Fail if --output is not up to date.")
def crd_docs(output: Path | None, check: bool) -> None:
    """Write the CRD reference (docs/crd-reference.md) from crds/."""
    from storefleet.operator.crddocs import reference

    text = reference(load_settings().crds_dir)
    if output is None:
        sys.stdout.write(text)
    elif check:
        if not output.exists() or output.read_text() != text:
            raise click.ClickException(f"{output} is stale: run storefleet operator crd-docs")
    else:
        output.write_text(text)
