"""The marketplace's double-entry ledger.

Accounts (balances kept on each account's normal side):

- ``store:clearing`` (debit-normal): money the store holds for vendors' lines.
- ``store:commission`` (credit-normal): the store's commission revenue.
- ``vendor:<id>:payable`` (credit-normal): what the store owes the vendor.
- ``vendor:<id>:receivable`` (debit-normal): what the vendor owes the store,
  when a refund came after the money was paid out.

Every transaction balances (sum of debits == sum of credits), amounts are
integer minor units, and a vendor's payable and receivable never go below
zero: a refund debits the payable only as far as its balance and the rest to
the receivable, and the vendor's next sale settles the receivable first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.vendors.models import LedgerAccount, LedgerEntry, LedgerTransaction

CLEARING: Final = "store:clearing"
COMMISSION: Final = "store:commission"
DEBIT_NORMAL_SUFFIXES: Final = (":receivable", ":clearing")


def payable(vendor_id: str) -> str:
    return f"vendor:{vendor_id}:payable"


def receivable(vendor_id: str) -> str:
    return f"vendor:{vendor_id}:receivable"


def debit_normal(account: str) -> bool:
    return account.endswith(DEBIT_NORMAL_SUFFIXES)


def commission_of(net_minor: int, bps: int) -> int:
    """The commission on a net amount, rounded half up to a whole minor unit."""
    if net_minor <= 0:
        return 0
    return (net_minor * bps + 5000) // 10_000


@dataclass(frozen=True)
class Line:
    account: str
    debit: int = 0
    credit: int = 0


class UnbalancedError(ValueError):
    pass


def check_balanced(lines: Sequence[Line]) -> None:
    if any(line.debit < 0 or line.credit < 0 for line in lines):
        raise UnbalancedError("a posting amount is negative")
    debits = sum(line.debit for line in lines)
    credits = sum(line.credit for line in lines)
    if debits != credits:
        raise UnbalancedError(f"debits {debits} != credits {credits}")


async def balances(session: AsyncSession, names: Sequence[str], *, lock: bool) -> dict[str, int]:
    """Current balances of the accounts (0 for one never used); ``lock`` takes
    the rows for the transaction on PostgreSQL (SQLite writers are serial)."""
    query = select(LedgerAccount.name, LedgerAccount.balance_minor).where(
        LedgerAccount.name.in_(list(names))
    )
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    found = {row.name: int(row.balance_minor) for row in await session.execute(query)}
    return {name: found.get(name, 0) for name in names}


async def post(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    vendor_id: str,
    currency: str,
    lines: Sequence[Line],
    order_id: str | None = None,
    suborder_id: str | None = None,
    memo: str = "",
) -> str:
    """Write one balanced transaction and move the accounts' balances."""
    lines = [line for line in lines if line.debit or line.credit]
    check_balanced(lines)
    transaction_id = uuid.uuid4().hex
    session.add(
        LedgerTransaction(
            id=transaction_id,
            kind=kind,
            reference=reference,
            order_id=order_id,
            vendor_id=vendor_id,
            suborder_id=suborder_id,
            currency=currency,
            memo=memo[:300],
        )
    )
    await session.flush()
    for line in lines:
        session.add(
            LedgerEntry(
                transaction_id=transaction_id,
                account=line.account,
                debit_minor=line.debit,
                credit_minor=line.credit,
            )
        )
        change = line.debit - line.credit
        if not debit_normal(line.account):
            change = -change
        existing = await session.get(LedgerAccount, line.account)
        if existing is None:
            session.add(LedgerAccount(name=line.account, balance_minor=change))
        else:
            await session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.name == line.account)
                .values(balance_minor=LedgerAccount.balance_minor + change)
            )
        await session.flush()
    return transaction_id


def sale_lines(vendor_id: str, amount: int, commission: int, owed: int) -> list[Line]:
    """A vendor's lines were paid: the store holds ``amount``, keeps the
    commission, owes the vendor the rest — first settling what the vendor owes."""
    share = amount - commission
    settle = min(owed, share)
    return [
        Line(CLEARING, debit=amount),
        Line(COMMISSION, credit=commission),
        Line(receivable(vendor_id), credit=settle),
        Line(payable(vendor_id), credit=share - settle),
    ]


def refund_lines(vendor_id: str, amount: int, commission_back: int, available: int) -> list[Line]:
    """Money went back to the shopper: the commission is reversed in proportion
    and the vendor's share comes out of its payable, as far as that goes; the
    rest becomes a receivable."""
    share = amount - commission_back
    from_payable = min(available, share)
    return [
        Line(CLEARING, credit=amount),
        Line(COMMISSION, debit=commission_back),
        Line(payable(vendor_id), debit=from_payable),
        Line(receivable(vendor_id), debit=share - from_payable),
    ]


def payout_lines(vendor_id: str, amount: int) -> list[Line]:
    return [Line(payable(vendor_id), debit=amount), Line(CLEARING, credit=amount)]
