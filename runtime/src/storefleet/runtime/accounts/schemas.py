"""The accounts HTTP contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from storefleet.runtime.platform.web.schema import Input

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$",
    ),
]
# Long enough to resist guessing, short enough that argon2 isn't a DoS lever.
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Token = Annotated[str, StringConstraints(min_length=10, max_length=4096)]
OtpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=20)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Channel = Literal["email", "sms", "push"]


class Register(Input):
    email: Email
    password: Password
    name: Text = ""


class VerifyEmail(Input):
    token: Token


class SignIn(Input):
    email: Email
    password: AnyPassword


class MfaAnswer(Input):
    challenge: Token
    code: OtpCode


class Refresh(Input):
    refresh_token: Token


class ForgotPassword(Input):
    email: Email


class ResetPassword(Input):
    token: Token
    password: Password


class ChangePassword(Input):
    current_password: AnyPassword
    new_password: Password


class ConfirmMfa(Input):
    code: OtpCode


class DisableMfa(Input):
    code: OtpCode


class ProfilePatch(Input):
    name: Text | None = None
    language: Language | None = None
    channels: dict[Channel, bool] | None = None
    marketing_opt_in: bool | None = None


class AddressIn(Input):
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    line1: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9 -]{2,12}$")
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9 +()-]{0,40}$")] = ""
    is_default: bool = False


class DeleteAccount(Input):
    password: AnyPassword = ""
    confirm: Literal["DELETE"]


class RolesIn(Input):
    roles: list[Literal["customer", "store-admin", "vendor-admin", "vendor-staff", "support"]] = (
        Field(max_length=5)
    )


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class Tokens(BaseModel):
    token_type: Literal["Bearer"] = "Bearer"
    access_token: str
    expires_in: int
    refresh_token: str
    mfa_enrolment_required: bool = False


class MfaChallenge(BaseModel):
    mfa_required: Literal[True] = True
    challenge: str
    expires_in: int


class Address(BaseModel):
    id: str
    label: str
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str
    phone: str
    is_default: bool


class Profile(BaseModel):
    id: str
    email: str
    email_verified: bool
    name: str
    roles: list[str]
    language: str
    channels: dict[str, bool]
    marketing_opt_in: bool
    mfa_enabled: bool
    mfa_required: bool
    created_at: datetime


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class AuditEntry(BaseModel):
    event: str
    at: datetime
    ip: str
    user_id: str | None = None
    detail: dict[str, Any]


class CustomerSummary(BaseModel):
    id: str
    email: str
    name: str
    roles: list[str]
    status: str
    email_verified: bool
    mfa_enabled: bool
    created_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    total: int
