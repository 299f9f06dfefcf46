"""Staff: reconciliation, the subscription run, and the sandbox's faults."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.api.deps import PaymentsDep, guard, sandbox_of
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)


@router.get("/ledger", response_model=s.Ledger, dependencies=[Depends(guard("payments:read"))])
async def ledger(payments: PaymentsDep) -> s.Ledger:
    """The processor's totals next to ours, for reconciliation."""
    return await payments.ledger()


@router.post(
    "/subscriptions/charge-due",
    response_model=s.ChargeRun,
    dependencies=[Depends(guard("payments:refund"))],
)
async def charge_due(payments: PaymentsDep) -> s.ChargeRun:
    """Charge due subscriptions now (the scheduler also does, periodically)."""
    return await payments.subscriptions.charge_due()


@router.put(
    "/sandbox/faults", response_model=s.FaultsOut, dependencies=[Depends(guard("payments:refund"))]
)
async def set_faults(payments: PaymentsDep, body: s.FaultsIn) -> s.FaultsOut:
    """Make the sandbox processor fail: the next N calls, or all for a while."""
    faults = sandbox_of(payments).faults
    faults.fail_next = body.fail_next
    faults.outage_until = time.monotonic() + body.outage_seconds
    return await get_faults(payments)


@router.get(
    "/sandbox/faults", response_model=s.FaultsOut, dependencies=[Depends(guard("payments:read"))]
)
async def get_faults(payments: PaymentsDep) -> s.FaultsOut:
    faults = sandbox_of(payments).faults
    return s.FaultsOut(
        fail_next=faults.fail_next,
        outage_remaining_seconds=max(0.0, faults.outage_until - time.monotonic()),
        calls=faults.calls,
        failures=faults.failures,
        breaker=payments.breaker.state.value,
    )
