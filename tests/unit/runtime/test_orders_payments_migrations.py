"""The orders and payments migrations build exactly the tables the models declare."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storefleet.runtime.platform.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("context", ["orders", "payments"])
async def test_migrations_match_the_models(context: str, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    try:
        await db.migrate(f"storefleet.runtime.{context}:migrations", f"{context}_alembic_version")
        metadata = importlib.import_module(f"storefleet.runtime.{context}.models").Base.metadata
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await db.dispose()
    assert [d for d in differences if "alembic_version" not in str(d)] == []
