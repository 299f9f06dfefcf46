"""Orders schema: orders, lines, status history, checkout sagas, returns,
refunds, outbox.

Revision ID: 0001
Revises:

The first revision creates the tables as models.py declares them at this
revision; later revisions must spell out their changes with ``op`` calls.
"""

from alembic import op

from storefleet.runtime.orders.models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    Base.metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    Base.metadata.drop_all(bind=op.get_bind())
