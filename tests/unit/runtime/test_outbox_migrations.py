"""Every context's migrations build the outbox ``outbox_table`` declares, and undo it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

import storefleet.runtime
from storefleet.runtime.platform.storage.db import Database


def _contexts_with_an_outbox() -> list[str]:
    """Every context with its own migrations whose models declare ``<context>_outbox``."""
    found = []
    for env in sorted(Path(storefleet.runtime.__file__).parent.glob("*/migrations/env.py")):
        context = env.parent.parent.name
        models = importlib.import_module(f"storefleet.runtime.{context}.models")
        if f"{context}_outbox" in models.Base.metadata.tables:
            found.append(context)
    return found


CONTEXTS = _contexts_with_an_outbox()


def test_every_context_with_an_outbox_is_checked() -> None:
    assert {"orders", "payments", "notifications", "vendors"} <= set(CONTEXTS)


def _outbox_columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


@pytest.mark.parametrize("context", CONTEXTS)
async def test_each_outbox_migrates_to_the_declared_table(context: str, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    scripts = f"storefleet.runtime.{context}:migrations"
    version_table = f"{context}_alembic_version"
    outbox = f"{context}_outbox"
    metadata = importlib.import_module(f"storefleet.runtime.{context}.models").Base.metadata
    assert outbox in metadata.tables
    try:
        await db.migrate(scripts, version_table)
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
            columns = await connection.run_sync(_outbox_columns, outbox)
        assert [d for d in differences if outbox in str(d)] == []
        assert {"traceparent", "tracestate"} <= columns

        def downgrade(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", scripts)
            config.attributes.update(connection=connection, version_table=version_table)
            # To just before the outbox got its trace context (later
            # revisions, such as the orders' sagas getting theirs, go too).
            revisions = ScriptDirectory.from_config(config).walk_revisions()
            added = next(r for r in revisions if r.path.endswith("_outbox_trace_context.py"))
            assert isinstance(added.down_revision, str)
            command.downgrade(config, added.down_revision)

        async with db.engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with db.engine.connect() as connection:
            columns = await connection.run_sync(_outbox_columns, outbox)
        assert not {"traceparent", "tracestate"} & columns
        # And forward again, as a rolled-back release would be re-deployed.
        await db.migrate(scripts, version_table)
        async with db.engine.connect() as connection:
            columns = await connection.run_sync(_outbox_columns, outbox)
        assert {"traceparent", "tracestate"} <= columns
    finally:
        await db.dispose()
