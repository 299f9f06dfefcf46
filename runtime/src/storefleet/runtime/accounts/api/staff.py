"""Store staff (``/admin``): customers, their roles, and the security audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.api.deps import Accounts, IdPath, Seen, guard
from storefleet.runtime.platform.identity.tokens import Principal

router = APIRouter(prefix="/admin", tags=["admin"])
READ = [Depends(guard("customers:read"))]


@router.get("/customers", response_model=s.CustomerPage, dependencies=READ)
async def customers(
    accounts: Accounts,
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.CustomerPage:
    return await accounts.customers.customers(q, offset, limit)


@router.get("/customers/{user_id}", response_model=s.CustomerSummary, dependencies=READ)
async def customer(accounts: Accounts, user_id: IdPath) -> s.CustomerSummary:
    return await accounts.customers.customer(user_id)


@router.put("/customers/{user_id}/roles", response_model=s.CustomerSummary)
async def set_roles(
    accounts: Accounts,
    user_id: IdPath,
    body: s.RolesIn,
    actor: Annotated[Principal, Depends(guard("customers:manage"))],
    client: Seen,
) -> s.CustomerSummary:
    return await accounts.customers.set_roles(actor, user_id, body, client)


@router.get(
    "/security-events",
    response_model=list[s.AuditEntry],
    dependencies=[Depends(guard("audit:read"))],
)
async def audit_log(
    accounts: Accounts,
    user_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[s.AuditEntry]:
    return await accounts.audit.security_events(user_id, limit)
