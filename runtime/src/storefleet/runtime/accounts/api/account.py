"""The signed-in person's own account (``/me``): profile, password, second
factor, addresses, data export, erasure and their security events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.api.deps import Accounts, Enrolling, IdPath, Seen, Self
from storefleet.runtime.accounts.users import local_id

router = APIRouter(prefix="/me", tags=["account"])


@router.get("", response_model=s.Profile)
async def profile(accounts: Accounts, principal: Enrolling) -> s.Profile:
    return await accounts.profiles.profile(principal)


@router.patch("", response_model=s.Profile)
async def update_profile(accounts: Accounts, body: s.ProfilePatch, principal: Self) -> s.Profile:
    """Name, language and notification channels."""
    return await accounts.profiles.update_profile(principal, body)


@router.put("/password", status_code=204)
async def change_password(
    accounts: Accounts, body: s.ChangePassword, principal: Self, client: Seen
) -> Response:
    await accounts.passwords.change_password(principal, body, client)
    return Response(status_code=204)


@router.post("/mfa", response_model=s.MfaEnrolment)
async def enrol_mfa(accounts: Accounts, principal: Enrolling, client: Seen) -> s.MfaEnrolment:
    """Start TOTP enrolment: a secret and its QR code (SVG)."""
    return await accounts.second_factor.enrol_mfa(principal, client)


@router.post("/mfa/confirm", response_model=s.RecoveryCodes)
async def confirm_mfa(
    accounts: Accounts, body: s.ConfirmMfa, principal: Enrolling, client: Seen
) -> s.RecoveryCodes:
    """Turn MFA on with a first code; the recovery codes are shown only now."""
    return await accounts.second_factor.confirm_mfa(principal, body, client)


@router.post("/mfa/disable", status_code=204)
async def disable_mfa(
    accounts: Accounts, body: s.DisableMfa, principal: Self, client: Seen
) -> Response:
    await accounts.second_factor.disable_mfa(principal, body, client)
    return Response(status_code=204)


@router.get("/addresses", response_model=list[s.Address])
async def addresses(accounts: Accounts, principal: Self) -> list[s.Address]:
    return await accounts.profiles.addresses(principal)


@router.post("/addresses", response_model=s.Address, status_code=201)
async def add_address(accounts: Accounts, body: s.AddressIn, principal: Self) -> s.Address:
    return await accounts.profiles.add_address(principal, body)


@router.put("/addresses/{address_id}", response_model=s.Address)
async def replace_address(
    accounts: Accounts, address_id: IdPath, body: s.AddressIn, principal: Self
) -> s.Address:
    return await accounts.profiles.replace_address(principal, address_id, body)


@router.delete("/addresses/{address_id}", status_code=204)
async def delete_address(accounts: Accounts, address_id: IdPath, principal: Self) -> Response:
    await accounts.profiles.delete_address(principal, address_id)
    return Response(status_code=204)


@router.get("/export")
async def export(accounts: Accounts, principal: Self, client: Seen) -> JSONResponse:
    """Everything this service holds about you, as JSON."""
    document: dict[str, Any] = await accounts.privacy.export(principal, client)
    return JSONResponse(
        document,
        headers={"Content-Disposition": 'attachment; filename="my-account.json"'},
    )


@router.post("/erase", status_code=204)
async def erase(
    accounts: Accounts, body: s.DeleteAccount, principal: Self, client: Seen
) -> Response:
    """Delete the account: personal data is erased, anonymised records stay."""
    await accounts.privacy.erase(principal, body, client)
    return Response(status_code=204)


@router.get("/security-events", response_model=list[s.AuditEntry])
async def my_events(accounts: Accounts, principal: Self) -> list[s.AuditEntry]:
    return await accounts.audit.security_events(local_id(principal), limit=50)
