"""The platform CRD files are read for the CRDs they define, once."""

from __future__ import annotations

from pathlib import Path

from storefleet.dev.components.platform_crds import SOURCES, crd_names


def test_crd_names_lists_only_crds_and_remembers_them(tmp_path: Path) -> None:
    manifest = tmp_path / "crds.yaml"
    manifest.write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: virtualservices.networking.istio.io}\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-a-crd}\n"
        "---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: applications.argoproj.io}\n"
    )
    expected = ["virtualservices.networking.istio.io", "applications.argoproj.io"]
    assert crd_names(manifest) == expected
    # A second read uses what was remembered beside the file, not the YAML.
    manifest.write_text("")
    assert crd_names(manifest) == expected


def test_each_source_is_cached_under_its_own_versioned_folder() -> None:
    folders = {source.directory.name for source in SOURCES}
    assert folders == {"istio-api-v1.31.4", "argo-cd-v3.5.7"}
