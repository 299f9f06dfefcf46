"""Table metadata for a bounded context: each context owns its tables and migrations.

Every context names constraints and indexes the same way, so that Alembic
migrations can refer to (and drop) them by a name known in advance on both
SQLite and PostgreSQL, instead of one each database invented.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import MetaData

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def context_metadata() -> MetaData:
    """A fresh MetaData for one context's tables, under the shared naming convention."""
    return MetaData(naming_convention=dict(NAMING_CONVENTION))
