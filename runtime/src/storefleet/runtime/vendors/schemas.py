"""The vendors context's HTTP contract. Money is integer minor units."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from storefleet.runtime.platform.web.schema import Input


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


Timestamp = Annotated[dt.datetime, AfterValidator(_aware)]
VENDOR_ID = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=80)
]
Sku = Annotated[
    str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$", min_length=1, max_length=64)
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", max_length=320
    ),
]
Schedule = Literal["Daily", "Weekly", "Monthly"]
Attributes = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=50)],
    Annotated[str, StringConstraints(max_length=200)],
]


class PayoutSettings(Input):
    currency: Currency
    schedule: Schedule
    minimum_amount: float = Field(ge=0, le=1_000_000_000)

    @field_validator("minimum_amount", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # strict mode refuses an int for a float field; JSON has one number type
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class VendorIn(Input):
    """What the operator's Vendor controller sends: the vendor's whole desired state."""

    display_name: Name
    contact_email: Email
    commission_percent: float = Field(ge=0, le=100)
    payout: PayoutSettings
    product_limit: int | None = Field(default=None, ge=0, le=1_000_000)
    suspended: bool = False

    @field_validator("commission_percent", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class PayoutSettingsOut(BaseModel):
    currency: str
    schedule: str
    minimum_amount: float
    minimum_amount_minor: int


class VendorOut(BaseModel):
    id: str
    display_name: str
    contact_email: str
    commission_percent: float
    payout: PayoutSettingsOut
    product_limit: int | None
    product_count: int
    suspended: bool
    status: Literal["active", "suspended", "offboarded"]
    portal_path: str = "/vendor"
    catalog_synced: bool
    created_at: Timestamp
    updated_at: Timestamp


class VendorPage(BaseModel):
    items: list[VendorOut]
    total: int


class PublicVendor(BaseModel):
    id: str
    display_name: str
    status: str
    rating_average: float | None
    rating_count: int


# ---------------------------------------------------------------- products


class VariantIn(Input):
    sku: Sku
    name: str = Field(default="", max_length=200)
    attributes: Attributes = Field(default_factory=dict)
    price_minor: int = Field(ge=0, le=1_000_000_000)
    currency: Currency
    stock: int = Field(default=0, ge=0, le=10_000_000)


class VendorProductIn(Input):
    slug: Slug
    name: Name
    description: str = Field(default="", max_length=20_000)
    brand: Slug | None = None
    category: Slug
    attributes: Attributes = Field(default_factory=dict)
    active: bool = True
    variants: list[VariantIn] = Field(min_length=1, max_length=100)


class VendorProductPatch(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=20_000)
    category: Slug | None = None
    attributes: Attributes | None = None
    active: bool | None = None


class VariantPatch(Input):
    name: str | None = Field(default=None, max_length=200)
    price_minor: int | None = Field(default=None, ge=0, le=1_000_000_000)
    stock: int | None = Field(default=None, ge=0, le=10_000_000)


class StockAdjustment(Input):
    delta: int = Field(ge=-10_000_000, le=10_000_000)


class VariantOut(BaseModel):
    sku: str
    name: str
    price_minor: int
    currency: str
    stock: int


class VendorProductOut(BaseModel):
    id: int
    slug: str
    name: str
    vendor_id: str
    listed: bool
    active: bool
    variants: list[VariantOut]


class VendorProductPage(BaseModel):
    items: list[VendorProductOut]
    total: int
    page: int
    per_page: int


# -------------------------------------------------------------- sub-orders


class SubOrderLine(BaseModel):
    sku: str
    product_id: int | None
    product_name: str
    variant_name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int
    returned_quantity: int


class SubOrderOut(BaseModel):
    id: str
    order_id: str
    vendor_id: str
    status: Literal["open", "shipped", "cancelled", "refunded"]
    currency: str
    lines: list[SubOrderLine]
    lines_total_minor: int
    refunded_minor: int
    commission_minor: int
    vendor_share_minor: int
    carrier: str | None
    tracking_number: str | None
    created_at: Timestamp
    shipped_at: Timestamp | None


class SubOrderPage(BaseModel):
    items: list[SubOrderOut]
    total: int


class ShipIn(Input):
    carrier: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ._/-]+$")


# ------------------------------------------------------------- the ledger


class EntryOut(BaseModel):
    account: str
    debit_minor: int
    credit_minor: int


class TransactionOut(BaseModel):
    id: str
    kind: str
    reference: str
    order_id: str | None
    vendor_id: str
    currency: str
    memo: str
    created_at: Timestamp
    entries: list[EntryOut]


class LedgerOut(BaseModel):
    """A vendor's accounts and the transactions that touched them, newest first."""

    vendor_id: str
    payable_minor: int
    receivable_minor: int
    transactions: list[TransactionOut]


class TrialBalance(BaseModel):
    accounts: dict[str, int]
    debits_minor: int
    credits_minor: int
    balanced: bool


class PayoutOut(BaseModel):
    id: str
    vendor_id: str
    period: str
    status: Literal["issued", "below_minimum", "held"]
    amount_minor: int
    currency: str
    created_at: Timestamp


class PayoutPage(BaseModel):
    items: list[PayoutOut]


class PayoutRunIn(Input):
    as_of: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="A date (UTC); default today"
    )


# ---------------------------------------------------------------- reviews


class ReviewIn(Input):
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=100)


class ReviewOut(BaseModel):
    vendor_id: str
    rating: int
    comment: str
    author: str
    created_at: Timestamp
    updated_at: Timestamp


class ReviewPage(BaseModel):
    vendor_id: str
    display_name: str
    rating_average: float | None
    rating_count: int
    items: list[ReviewOut]


class MemberOut(BaseModel):
    user_id: str
    vendor_id: str
    added_at: Timestamp
