"""The accounts HTTP API.

Public: registration, e-mail verification, sign-in (with a second step for
MFA), token refresh and sign-out, password reset. Signed in: the person's own
profile, preferences, addresses, MFA, data export and deletion. Staff:
customers and the security audit log.
"""

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.service import AccountsService, Client, local_id
from storefleet.runtime.platform.identity.permissions import MFA_ENROL, public, require
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
# Answers that must not reveal whether an address has an account take at least this long.
UNIFORM_SECONDS = 0.25
LIMITED: dict[int | str, dict[str, Any]] = {
    429: PROBLEM_RESPONSES[409] | {"description": "Too many attempts"}
}


LOOPBACK = {"127.0.0.1", "::1"}


def client_of(request: Request) -> Client:
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


async def _uniform(started: float) -> None:
    left = UNIFORM_SECONDS - (time.monotonic() - started)
    if left > 0:
        await asyncio.sleep(left)


def build_router(service: AccountsService) -> APIRouter:
    Enrolling = Annotated[Principal, Depends(require(MFA_ENROL))]
    Self = Annotated[Principal, Depends(require("account:self"))]

    router = APIRouter(responses=PROBLEM_RESPONSES)
    open_ = APIRouter(tags=["sign-in"], dependencies=[Depends(public)], responses=LIMITED)

    @open_.post("/register", response_model=s.Accepted, status_code=status.HTTP_202_ACCEPTED)
    async def register(body: s.Register, request: Request) -> s.Accepted:
        """Create an account; a verification link goes out by e-mail. The answer is
        the same whether or not the address already has an account."""
        started = time.monotonic()
        await service.register(body, client_of(request))
        await _uniform(started)
        return s.Accepted(detail="check your inbox for a link to confirm your address")

    @open_.post("/verify-email", response_model=s.Accepted)
    async def verify_email(body: s.VerifyEmail, request: Request) -> s.Accepted:
        await service.verify_email(body, client_of(request))
        return s.Accepted(detail="your e-mail address is confirmed; you can sign in")

    @open_.post("/sign-in", response_model=s.Tokens | s.MfaChallenge)
    async def sign_in(body: s.SignIn, request: Request) -> s.Tokens | s.MfaChallenge:
        """Tokens, or a challenge to answer at ``/sign-in/mfa`` when MFA is on."""
        return await service.sign_in(body, client_of(request))

    @open_.post("/sign-in/mfa", response_model=s.Tokens)
    async def sign_in_mfa(body: s.MfaAnswer, request: Request) -> s.Tokens:
        """A TOTP code or an unused recovery code."""
        return await service.answer_mfa(body, client_of(request))

    @open_.post("/token/refresh", response_model=s.Tokens)
    async def refresh(body: s.Refresh, request: Request) -> s.Tokens:
        """Rotate: the old refresh token stops working. Presenting it again
        revokes every token issued from the same sign-in."""
        return await service.refresh(body, client_of(request))

    @open_.post("/sign-out", status_code=204)
    async def sign_out(body: s.Refresh, request: Request) -> Response:
        await service.sign_out(body, client_of(request))
        return Response(status_code=204)

    @open_.post("/password/forgot", response_model=s.Accepted, status_code=status.HTTP_202_ACCEPTED)
    async def forgot_password(body: s.ForgotPassword, request: Request) -> s.Accepted:
        started = time.monotonic()
        await service.forgot_password(body, client_of(request))
        await _uniform(started)
        return s.Accepted(detail="if the address has an account, a reset link is on its way")

    @open_.post("/password/reset", response_model=s.Accepted)
    async def reset_password(body: s.ResetPassword, request: Request) -> s.Accepted:
        await service.reset_password(body, client_of(request))
        return s.Accepted(detail="your password is changed; sign in with it")

    me = APIRouter(prefix="/me", tags=["account"])

    @me.get("", response_model=s.Profile)
    async def profile(principal: Enrolling) -> s.Profile:
        return await service.profile(principal)

    @me.patch("", response_model=s.Profile)
    async def update_profile(body: s.ProfilePatch, principal: Self) -> s.Profile:
        """Name, language and notification channels."""
        return await service.update_profile(principal, body)

    @me.put("/password", status_code=204)
    async def change_password(
        body: s.ChangePassword, principal: Self, request: Request
    ) -> Response:
        await service.change_password(principal, body, client_of(request))
        return Response(status_code=204)

    @me.post("/mfa", response_model=s.MfaEnrolment)
    async def enrol_mfa(principal: Enrolling, request: Request) -> s.MfaEnrolment:
        """Start TOTP enrolment: a secret and its QR code (SVG)."""
        return await service.enrol_mfa(principal, client_of(request))

    @me.post("/mfa/confirm", response_model=s.RecoveryCodes)
    async def confirm_mfa(
        body: s.ConfirmMfa, principal: Enrolling, request: Request
    ) -> s.RecoveryCodes:
        """Turn MFA on with a first code; the recovery codes are shown only now."""
        return await service.confirm_mfa(principal, body, client_of(request))

    @me.post("/mfa/disable", status_code=204)
    async def disable_mfa(body: s.DisableMfa, principal: Self, request: Request) -> Response:
        await service.disable_mfa(principal, body, client_of(request))
        return Response(status_code=204)

    @me.get("/addresses", response_model=list[s.Address])
    async def addresses(principal: Self) -> list[s.Address]:
        return await service.addresses(principal)

    @me.post("/addresses", response_model=s.Address, status_code=201)
    async def add_address(body: s.AddressIn, principal: Self) -> s.Address:
        return await service.add_address(principal, body)

    @me.put("/addresses/{address_id}", response_model=s.Address)
    async def replace_address(address_id: IdPath, body: s.AddressIn, principal: Self) -> s.Address:
        return await service.replace_address(principal, address_id, body)

    @me.delete("/addresses/{address_id}", status_code=204)
    async def delete_address(address_id: IdPath, principal: Self) -> Response:
        await service.delete_address(principal, address_id)
        return Response(status_code=204)

    @me.get("/export")
    async def export(principal: Self, request: Request) -> JSONResponse:
        """Everything this service holds about you, as JSON."""
        document: dict[str, Any] = await service.export(principal, client_of(request))
        return JSONResponse(
            document,
            headers={"Content-Disposition": 'attachment; filename="my-account.json"'},
        )

    @me.post("/erase", status_code=204)
    async def erase(body: s.DeleteAccount, principal: Self, request: Request) -> Response:
        """Delete the account: personal data is erased, anonymised records stay."""
        await service.erase(principal, body, client_of(request))
        return Response(status_code=204)

    @me.get("/security-events", response_model=list[s.AuditEntry])
    async def my_events(principal: Self) -> list[s.AuditEntry]:
        return await service.security_events(local_id(principal), limit=50)

    staff = APIRouter(prefix="/admin", tags=["admin"])

    @staff.get(
        "/customers",
        response_model=s.CustomerPage,
        dependencies=[Depends(require("customers:read"))],
    )
    async def customers(
        q: Annotated[str, Query(max_length=100)] = "",
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> s.CustomerPage:
        return await service.customers(q, offset, limit)

    @staff.get(
        "/customers/{user_id}",
        response_model=s.CustomerSummary,
        dependencies=[Depends(require("customers:read"))],
    )
    async def customer(user_id: IdPath) -> s.CustomerSummary:
        return await service.customer(user_id)

    @staff.put("/customers/{user_id}/roles", response_model=s.CustomerSummary)
    async def set_roles(
        user_id: IdPath,
        body: s.RolesIn,
        actor: Annotated[Principal, Depends(require("customers:manage"))],
        request: Request,
    ) -> s.CustomerSummary:
        return await service.set_roles(actor, user_id, body, client_of(request))

    @staff.get(
        "/security-events",
        response_model=list[s.AuditEntry],
        dependencies=[Depends(require("audit:read"))],
    )
    async def audit_log(
        user_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[s.AuditEntry]:
        return await service.security_events(user_id, limit)

    router.include_router(open_)
    router.include_router(me)
    router.include_router(staff)
    return router
