"""`storefleet operator render`: a Store file in, its objects out, no cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from storefleet.operator.commands import cli

ROOT = Path(__file__).resolve().parents[3]


def test_render_prints_every_object_of_a_store() -> None:
    result = CliRunner().invoke(cli, ["render", str(ROOT / "examples/store-full.yaml"), "--istio"])
    assert result.exit_code == 0, result.output
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.output)}
    assert {"Namespace", "Deployment", "VirtualService", "DestinationRule"} <= kinds
    assert "Ingress" not in kinds


def test_render_refuses_a_store_that_breaks_the_crd(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: storefleet.io/v1alpha1\nkind: Store\nmetadata: {name: x}\n"
        "spec: {displayName: X, domains: [x.example.com], plan: huge}\n"
    )
    result = CliRunner().invoke(cli, ["render", str(bad)])
    assert result.exit_code != 0
    assert "spec.plan: unsupported value 'huge'" in result.output


def test_crd_docs_check_passes_on_the_committed_reference() -> None:
    result = CliRunner().invoke(
        cli, ["crd-docs", "--check", "--output", str(ROOT / "docs/crd-reference.md")]
    )
    assert result.exit_code == 0, result.output
