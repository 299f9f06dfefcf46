"""How long the catalog serves reads from memory depends on who else can write."""

from __future__ import annotations

from pathlib import Path

from storefleet.runtime.catalog.settings import CatalogSettings


def test_sqlite_has_one_writer_so_reads_stay_cached_long(tmp_path: Path) -> None:
    settings = CatalogSettings(database_url=f"sqlite:///{tmp_path / 'catalog.db'}")
    assert settings.resolved_read_cache_seconds() == 300.0


def test_postgresql_is_shared_by_replicas_so_reads_go_stale_quickly() -> None:
    settings = CatalogSettings(database_url="postgresql://shop@db.example/catalog")
    assert settings.resolved_read_cache_seconds() == 5.0


def test_a_setting_wins_and_zero_turns_the_cache_off() -> None:
    assert CatalogSettings(read_cache_seconds=0).resolved_read_cache_seconds() == 0.0
    assert CatalogSettings(read_cache_seconds=42).resolved_read_cache_seconds() == 42.0
