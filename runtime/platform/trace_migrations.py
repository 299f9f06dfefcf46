"""Schema changes every context's outbox shares, for the contexts' Alembic scripts.

Each context keeps its own migrations (its own tables, its own version table),
but the outbox is declared once, by :func:`~.events.outbox_table`. When that
declaration grows, each context gets a small revision that calls one of these,
so the change is written once and every outbox gets the same columns.
"""

from __future__ import annotations

from alembic import op

from storefleet.runtime.platform.events import trace_context_columns


def add_trace_context(table: str) -> None:
    """Adds the nullable ``traceparent`` and ``tracestate`` columns; existing
    rows keep none and are published as the start of a trace."""
    for column in trace_context_columns():
        op.add_column(table, column)


def drop_trace_context(table: str) -> None:
    # Batch mode: SQLite drops a column by copying the table; elsewhere it is
    # a plain ALTER TABLE.
    with op.batch_alter_table(table) as batch:
        for column in reversed(trace_context_columns()):
            batch.drop_column(column.name)
