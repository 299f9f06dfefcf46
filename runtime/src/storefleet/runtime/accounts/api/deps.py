"""What the accounts routes share: the service, who is calling from where,
the signed-in person, the path parameters and the permission checks."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from storefleet.runtime.accounts.audit import Client
from storefleet.runtime.accounts.service import AccountsService
from storefleet.runtime.platform.identity.permissions import MFA_ENROL, RouteGuards
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
# Answers that must not reveal whether an address has an account take at least this long.
UNIFORM_SECONDS = 0.25
LIMITED: dict[int | str, dict[str, Any]] = {
    429: PROBLEM_RESPONSES[409] | {"description": "Too many attempts"}
}
LOOPBACK = {"127.0.0.1", "::1"}

# People's own routes and staff's; no static token acts for them.
guard = RouteGuards("accounts_checks")


def get_accounts(request: Request) -> AccountsService:
    accounts: AccountsService = request.app.state.accounts
    return accounts


Accounts = Annotated[AccountsService, Depends(get_accounts)]


def client_of(request: Request) -> Client:
    """Where the request comes from, for rate limits and the audit log."""
    ip = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "")
    if ip in LOOPBACK and forwarded:
        # The storefront beside us (serve all calls in memory, as from loopback)
        # names the shopper's address; nobody else can reach us from loopback.
        ip = forwarded.split(",")[0].strip()[:64]
    return Client(
        ip=ip,
        user_agent=request.headers.get("user-agent", "")[:200],
    )


Seen = Annotated[Client, Depends(client_of)]

# Signed in, possibly still to set up a second factor the store requires.
Enrolling = Annotated[Principal, Depends(guard(MFA_ENROL))]
# Signed in, with every factor the store requires.
Self = Annotated[Principal, Depends(guard("account:self"))]


async def uniform(started: float) -> None:
    """Wait out the rest of :data:`UNIFORM_SECONDS` since ``started``."""
    left = UNIFORM_SECONDS - (time.monotonic() - started)
    if left > 0:
        await asyncio.sleep(left)
