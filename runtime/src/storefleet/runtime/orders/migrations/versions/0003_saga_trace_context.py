"""Checkout sagas keep the trace of the checkout that started them.

Revision ID: 0003
Revises: 0002
"""

from storefleet.runtime.platform.events.trace_migrations import (
    add_trace_context,
    drop_trace_context,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_trace_context("checkout_sagas")


def downgrade() -> None:
    drop_trace_context("checkout_sagas")
