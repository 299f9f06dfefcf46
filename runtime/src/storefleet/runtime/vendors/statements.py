"""Reading the ledger: a vendor's balances and entries, and the trial balance."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.vendors import ledger
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)


class Statements:
    """What the ledger says."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def vendor_ledger(self, vendor_id: str, limit: int) -> s.LedgerOut:
        accounts = [ledger.payable(vendor_id), ledger.receivable(vendor_id)]
        async with self.db.read() as session:
            found = await ledger.balances(session, accounts, lock=False)
            transactions = list(
                await session.scalars(
                    select(LedgerTransaction)
                    .where(LedgerTransaction.vendor_id == vendor_id)
                    .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id)
                    .limit(limit)
                )
            )
            entries: dict[str, list[s.EntryOut]] = defaultdict(list)
            if transactions:
                for entry in await session.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.transaction_id.in_([t.id for t in transactions]))
                    .order_by(LedgerEntry.id)
                ):
                    entries[entry.transaction_id].append(
                        s.EntryOut(
                            account=entry.account,
                            debit_minor=entry.debit_minor,
                            credit_minor=entry.credit_minor,
                        )
                    )
        return s.LedgerOut(
            vendor_id=vendor_id,
            payable_minor=found[accounts[0]],
            receivable_minor=found[accounts[1]],
            transactions=[
                s.TransactionOut(
                    id=t.id,
                    kind=t.kind,
                    reference=t.reference,
                    order_id=t.order_id,
                    vendor_id=t.vendor_id,
                    currency=t.currency,
                    memo=t.memo,
                    created_at=t.created_at,
                    entries=entries[t.id],
                )
                for t in transactions
            ],
        )

    async def trial_balance(self) -> s.TrialBalance:
        async with self.db.read() as session:
            accounts = {
                row.name: int(row.balance_minor)
                for row in await session.execute(
                    select(LedgerAccount.name, LedgerAccount.balance_minor).order_by(
                        LedgerAccount.name
                    )
                )
            }
            sums = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(LedgerEntry.debit_minor), 0),
                        func.coalesce(func.sum(LedgerEntry.credit_minor), 0),
                    )
                )
            ).one()
        debits, credits = int(sums[0]), int(sums[1])
        return s.TrialBalance(
            accounts=accounts,
            debits_minor=debits,
            credits_minor=credits,
            balanced=debits == credits,
        )
