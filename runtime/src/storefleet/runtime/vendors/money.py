"""Amounts as the vendors context keeps them: minor units of a currency and
commission rates in basis points."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from storefleet.runtime.platform.web.errors import ProblemError

# Minor units per major unit differ by currency (ISO 4217 exponents).
EXPONENTS: Final = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}


def to_minor(amount: float, currency: str) -> int:
    exponent = EXPONENTS.get(currency, 2)
    value = Decimal(str(amount)).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(value)


def percent_to_bps(percent: float) -> int:
    try:
        bps = Decimal(str(percent)) * 100
    except InvalidOperation:
        raise ProblemError(422, "commission_percent must be a number from 0 to 100") from None
    if bps != bps.to_integral_value():
        raise ProblemError(422, "commission_percent takes at most two decimals (12.5, 7.25)")
    return int(bps)
