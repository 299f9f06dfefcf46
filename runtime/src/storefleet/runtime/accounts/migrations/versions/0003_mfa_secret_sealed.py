"""MFA secrets are stored encrypted, which takes more room than the secret.

The secrets themselves are encrypted when the service starts
(``secrets_at_rest.encrypt_stored_secrets``): the key is a setting, which a
migration does not see.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.alter_column(
            "mfa_secret", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.alter_column(
            "mfa_secret", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True
        )
