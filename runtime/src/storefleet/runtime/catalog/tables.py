"""The catalog's tables as Core tables, for the queries the ORM would make slow
or awkward, and what their timestamps read back as."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table

from storefleet.runtime.catalog.models import (
    Brand,
    Category,
    CoPurchase,
    Image,
    Product,
    Reservation,
    Variant,
)

P = cast(Table, Product.__table__)
V = cast(Table, Variant.__table__)
B = cast(Table, Brand.__table__)
C = cast(Table, Category.__table__)
IMG = cast(Table, Image.__table__)
COP = cast(Table, CoPurchase.__table__)
R = cast(Table, Reservation.__table__)


def as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
