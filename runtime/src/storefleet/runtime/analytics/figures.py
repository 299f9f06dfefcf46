"""Report arithmetic, kept apart from storage so it is tested on its own.

Money stays in integer minor units throughout; only the conversion rate, a
ratio, is a float.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


class PeriodError(ValueError):
    """A report period that cannot be answered (reversed, or too long)."""


@dataclass(frozen=True)
class SalesFigures:
    currency: str
    orders: int = 0
    units: int = 0
    gross_minor: int = 0
    refunds_minor: int = 0
    refund_count: int = 0

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.refunds_minor

    @property
    def average_order_minor(self) -> int:
        return average_minor(self.gross_minor, self.orders)

    def __add__(self, other: SalesFigures) -> SalesFigures:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} figures to {self.currency} ones")
        return SalesFigures(
            self.currency,
            self.orders + other.orders,
            self.units + other.units,
            self.gross_minor + other.gross_minor,
            self.refunds_minor + other.refunds_minor,
            self.refund_count + other.refund_count,
        )


def average_minor(total_minor: int, count: int) -> int:
    """The mean, rounded half up to a whole minor unit; 0 for no orders."""
    if count <= 0:
        return 0
    return (2 * total_minor + count) // (2 * count)


def conversion_rate(paid: int, checkouts: int) -> float | None:
    """Paid orders per checkout started; None when nobody started one."""
    if checkouts <= 0:
        return None
    return round(paid / checkouts, 4)


def totals_by_currency(days: Iterable[SalesFigures]) -> list[SalesFigures]:
    """One line per currency: amounts in different currencies never add up."""
    totals: dict[str, SalesFigures] = {}
    for day in days:
        totals[day.currency] = totals.get(day.currency, SalesFigures(day.currency)) + day
    return [totals[code] for code in sorted(totals)]


def period(
    start: dt.date | None,
    end: dt.date | None,
    *,
    today: dt.date,
    default_days: int,
    max_days: int,
) -> tuple[dt.date, dt.date]:
    """The inclusive days a report covers: ``end`` defaults to today, ``start``
    to ``default_days`` days ending at ``end``; refused when reversed or longer
    than ``max_days``."""
    end = end or today
    if start is None:
        start = _minus(end, default_days - 1)
    if start > end:
        raise PeriodError(f"from ({start}) is after to ({end})")
    days = (end - start).days + 1
    if days > max_days:
        raise PeriodError(f"the period has {days} days; at most {max_days} are allowed")
    return start, end


def _minus(day: dt.date, days: int) -> dt.date:
    # The first days of the calendar have no earlier days to go back to.
    if day.toordinal() - days < 1:
        return dt.date.min
    return day - dt.timedelta(days=days)
