"""Schema changes for tables that carry a trace context, for the contexts' Alembic scripts.

Each context keeps its own migrations (its own tables, its own version table).
A row that is acted on later, outside the request that wrote it (an outbox
event, a checkout saga, a message to send), keeps that request's W3C trace
context in two columns, declared once by
:func:`~.outbox.trace_context_columns`; each context's small revision calls
one of these so the change is written once.
"""

from __future__ import annotations

from alembic import op

from storefleet.runtime.platform.events.outbox import trace_context_columns


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
