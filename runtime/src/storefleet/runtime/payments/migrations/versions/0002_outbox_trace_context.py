"""The outbox keeps the trace context of the transaction that wrote each event.

Revision ID: 0002
Revises: 0001
"""

from storefleet.runtime.platform.events.trace_migrations import (
    add_trace_context,
    drop_trace_context,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_trace_context("payments_outbox")


def downgrade() -> None:
    drop_trace_context("payments_outbox")
