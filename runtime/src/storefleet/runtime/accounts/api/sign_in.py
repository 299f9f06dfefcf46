"""Anyone (no sign-in): registration, e-mail verification, sign-in with its
second step, token refresh, sign-out and password reset."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response, status

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.api.deps import LIMITED, Accounts, Seen, uniform
from storefleet.runtime.platform.identity.permissions import public

router = APIRouter(tags=["sign-in"], dependencies=[Depends(public)], responses=LIMITED)


@router.post("/register", response_model=s.Accepted, status_code=status.HTTP_202_ACCEPTED)
async def register(accounts: Accounts, body: s.Register, client: Seen) -> s.Accepted:
    """Create an account; a verification link goes out by e-mail. The answer is
    the same whether or not the address already has an account."""
    started = time.monotonic()
    await accounts.registration.register(body, client)
    await uniform(started)
    return s.Accepted(detail="check your inbox for a link to confirm your address")


@router.post("/verify-email", response_model=s.Accepted)
async def verify_email(accounts: Accounts, body: s.VerifyEmail, client: Seen) -> s.Accepted:
    await accounts.registration.verify_email(body, client)
    return s.Accepted(detail="your e-mail address is confirmed; you can sign in")


@router.post("/sign-in", response_model=s.Tokens | s.MfaChallenge)
async def sign_in(accounts: Accounts, body: s.SignIn, client: Seen) -> s.Tokens | s.MfaChallenge:
    """Tokens, or a challenge to answer at ``/sign-in/mfa`` when MFA is on."""
    return await accounts.signing_in.sign_in(body, client)


@router.post("/sign-in/mfa", response_model=s.Tokens)
async def sign_in_mfa(accounts: Accounts, body: s.MfaAnswer, client: Seen) -> s.Tokens:
    """A TOTP code or an unused recovery code."""
    return await accounts.signing_in.answer_mfa(body, client)


@router.post("/token/refresh", response_model=s.Tokens)
async def refresh(accounts: Accounts, body: s.Refresh, client: Seen) -> s.Tokens:
    """Rotate: the old refresh token stops working. Presenting it again
    revokes every token issued from the same sign-in."""
    return await accounts.sessions.refresh(body, client)


@router.post("/sign-out", status_code=204)
async def sign_out(accounts: Accounts, body: s.Refresh, client: Seen) -> Response:
    await accounts.sessions.sign_out(body, client)
    return Response(status_code=204)


@router.post("/password/forgot", response_model=s.Accepted, status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(accounts: Accounts, body: s.ForgotPassword, client: Seen) -> s.Accepted:
    started = time.monotonic()
    await accounts.passwords.forgot_password(body, client)
    await uniform(started)
    return s.Accepted(detail="if the address has an account, a reset link is on its way")


@router.post("/password/reset", response_model=s.Accepted)
async def reset_password(accounts: Accounts, body: s.ResetPassword, client: Seen) -> s.Accepted:
    await accounts.passwords.reset_password(body, client)
    return s.Accepted(detail="your password is changed; sign in with it")
