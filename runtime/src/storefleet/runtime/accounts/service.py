"""Accounts: the rules behind sign-up, sign-in, MFA, tokens and privacy.

Nothing here tells a caller whether an e-mail address has an account: sign-in
answers the same for an unknown address and a wrong password (after the same
argon2 work), registration and password reset always answer "accepted", and
lockout counts failures per address whether or not it exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.limits import AttemptCounter, retry_after
from storefleet.runtime.accounts.models import (
    Address,
    AuditEvent,
    OneTimeToken,
    RecoveryCode,
    RefreshToken,
    User,
    outbox,
)
from storefleet.runtime.accounts.secrets_at_rest import SecretBox
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.identity.permissions import CUSTOMER, ROLES, STORE_ADMIN
from storefleet.runtime.platform.identity.tokens import Authenticator, Principal
from storefleet.runtime.platform.storage.cache import Cache
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import NotFound, ProblemError

log = logging.getLogger(__name__)
SOURCE = "accounts"
WRONG_CREDENTIALS = "the e-mail address or the password is wrong"
RECOVERY_CODES = 10
# OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@dataclass(frozen=True)
class Client:
    """Who is asking, for rate limits and the audit log."""

    ip: str = ""
    user_agent: str = ""


def _new_id() -> str:
    return uuid.uuid4().hex


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def local_id(principal: Principal) -> str:
    """The account id of a principal: our own ids as they are, a Keycloak
    subject (a UUID) without its dashes, anything longer hashed."""
    subject = principal.subject.replace("-", "").lower()
    if len(subject) == 32 and all(c in "0123456789abcdef" for c in subject):
        return subject
    return _sha256(f"{principal.realm}|{principal.subject}")[:32]


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


class AccountsService:
    def __init__(
        self,
        db: Database,
        cache: Cache,
        settings: AccountsSettings,
        auth: Authenticator,
        relay: OutboxRelay,
        store_name: str = "Storefleet",
        box: SecretBox | None = None,
    ) -> None:
        self.db = db
        # MFA secrets are stored sealed; only this service opens them.
        self.box = box or SecretBox.from_setting(settings.secrets_key, settings.data_dir)
        self.settings = settings
        self.auth = auth
        self.relay = relay
        self.store_name = store_name
        self.failures = AttemptCounter(cache, "acct-fail")
        self.attempts = AttemptCounter(cache, "acct-rate")
        self._cache = cache
        self._dummy_hash = HASHER.hash(secrets.token_urlsafe(16))

    # ------------------------------------------------------------ helpers

    @property
    def _secret(self) -> str:
        return self.auth.settings.jwt_secret

    def _sign_link(self, user_id: str, purpose: str, jti: str, ttl: int) -> str:
        now = int(time.time())
        claims = {
            "iss": self.auth.settings.issuer,
            "aud": f"accounts:{purpose}",
            "sub": user_id,
            "jti": jti,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _read_link(self, token: str, purpose: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=f"accounts:{purpose}",
                issuer=self.auth.settings.issuer,
                options={"require": ["exp", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise ProblemError(400, "this link has expired; ask for a new one") from None
        except jwt.PyJWTError:
            raise ProblemError(400, "this link is not valid") from None
        return claims

    async def _use_link(self, session: AsyncSession, claims: dict[str, Any], purpose: str) -> str:
        """Mark the link used; only the first use counts."""
        result = await session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.id == claims["jti"],
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > utcnow(),
            )
            .values(used_at=utcnow())
        )
        if _rowcount(result) != 1:
            raise ProblemError(400, "this link has already been used or is no longer valid")
        return str(claims["sub"])

    async def _issue_link(
        self, session: AsyncSession, user_id: str, purpose: str, ttl: int
    ) -> tuple[str, datetime]:
        jti = _new_id()
        expires = utcnow() + timedelta(seconds=ttl)
        session.add(OneTimeToken(id=jti, user_id=user_id, purpose=purpose, expires_at=expires))
        return self._sign_link(user_id, purpose, jti, ttl), expires

    async def _event(self, session: AsyncSession, kind: str, payload: dict[str, Any]) -> None:
        await enqueue(session, outbox, Event(f"account.{kind}", payload, source=SOURCE))

    async def _audit(
        self,
        session: AsyncSession,
        event: str,
        user_id: str | None,
        client: Client,
        **detail: Any,
    ) -> None:
        session.add(AuditEvent(user_id=user_id, event=event, ip=client.ip[:64], detail=detail))

    async def audit(self, event: str, user_id: str | None, client: Client, **detail: Any) -> None:
        async with self.db.write() as session:
            await self._audit(session, event, user_id, client, **detail)

    async def _rate_limit(self, client: Client, action: str) -> None:
        count, left = await self.attempts.hit(f"{action}:{client.ip}", 60)
        if count > self.settings.attempts_per_minute:
            raise ProblemError(
                429,
                "too many attempts from your network; wait a minute",
                headers={"Retry-After": retry_after(left)},
            )

    @staticmethod
    async def _hash(password: str) -> str:
        return await asyncio.to_thread(HASHER.hash, password)

    @staticmethod
    async def _verify(hashed: str, password: str) -> bool:
        def check() -> bool:
            try:
                return HASHER.verify(hashed, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def _link(self, path: str, token: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}{path}?token={token}"

    def _log_link(self, what: str, email: str, link: str) -> None:
        if self.settings.log_links:
            log.info("%s link for %s: %s", what, email, link)

    async def _user(self, session: AsyncSession, user_id: str) -> User:
        user = await session.get(User, user_id)
        if user is None or user.status != "active":
            raise NotFound("no such account")
        return user

    def mfa_required(self, user: User) -> bool:
        return self.settings.mfa_policy == "required"

    def _profile(self, user: User) -> s.Profile:
        return s.Profile(
            id=user.id,
            email=user.email or "",
            email_verified=user.email_verified,
            name=user.name,
            roles=list(user.roles),
            language=user.language,
            channels={k: bool(v) for k, v in (user.channels or {}).items()},
            marketing_opt_in=user.marketing_opt_in,
            mfa_enabled=user.mfa_enabled,
            mfa_required=self.mfa_required(user),
            created_at=aware(user.created_at),
        )

    # ------------------------------------------------------- registration

    async def register(self, body: s.Register, client: Client) -> None:
        await self._rate_limit(client, "register")
        hashed = await self._hash(body.password)
        async with self.db.write() as session:
            existing = (
                await session.execute(select(User).where(User.email == body.email))
            ).scalar_one_or_none()
            if existing is not None and existing.email_verified:
                # The owner hears of it; the caller can't tell the difference.
                await self._event(
                    session,
                    "registration_attempted",
                    {"user_id": existing.id, "email": body.email},
                )
                await self._audit(session, "registration_attempted", existing.id, client)
            elif existing is not None:
                # Never confirmed (a lost mail?): a new link to the address, the
                # account and its password unchanged.
                await self._send_verification(session, existing, client, "verification_resent")
            else:
                user = User(
                    id=_new_id(),
                    email=body.email,
                    password_hash=hashed,
                    name=body.name,
                    roles=[CUSTOMER],
                    channels={"email": True, "sms": False, "push": False},
                    language="en",
                )
                session.add(user)
                await session.flush()
                await self._send_verification(session, user, client, "registered")
        self.relay.wake()

    async def _send_verification(
        self, session: AsyncSession, user: User, client: Client, audit_event: str
    ) -> None:
        token, expires = await self._issue_link(
            session, user.id, "verify", self.settings.verification_ttl_seconds
        )
        link = self._link("/account/verify", token)
        await self._event(
            session,
            "verification_requested",
            {
                "user_id": user.id,
                "email": user.email,
                "name": user.name,
                "link": link,
                "expires_at": expires.isoformat(),
            },
        )
        await self._audit(session, audit_event, user.id, client)
        self._log_link("verification", user.email or "", link)

    async def verify_email(self, body: s.VerifyEmail, client: Client) -> None:
        claims = self._read_link(body.token, "verify")
        async with self.db.write() as session:
            user_id = await self._use_link(session, claims, "verify")
            user = await self._user(session, user_id)
            user.email_verified = True
            admins = {e.lower() for e in self.settings.admin_emails}
            if user.email in admins and STORE_ADMIN not in user.roles:
                user.roles = [*user.roles, STORE_ADMIN]
            await self._event(session, "email_verified", {"user_id": user.id})
            await self._audit(session, "email_verified", user.id, client)
        self.relay.wake()

    # ------------------------------------------------------------ sign-in

    async def _locked(self, email: str) -> None:
        """429 once the address had too many failed sign-ins. Password and
        second-factor failures count together and only a complete sign-in
        (both factors) clears them: a right password alone never does, or
        whoever knows it would get unlimited guesses at the code."""
        count, left = await self.failures.count(_sha256(email))
        if count >= self.settings.lockout_threshold:
            raise ProblemError(
                429,
                "too many failed sign-ins for this address; try again later",
                headers={"Retry-After": retry_after(left)},
            )

    async def _failed(self, email: str, user_id: str | None, client: Client, why: str) -> None:
        await self.failures.hit(_sha256(email), self.settings.lockout_seconds)
        await self.audit("sign_in_failed", user_id, client, reason=why)

    async def sign_in(self, body: s.SignIn, client: Client) -> s.Tokens | s.MfaChallenge:
        await self._rate_limit(client, "sign-in")
        await self._locked(body.email)
        async with self.db.read() as session:
            user = (
                await session.execute(
                    select(User).where(User.email == body.email, User.status == "active")
                )
            ).scalar_one_or_none()
        hashed = user.password_hash if user is not None and user.password_hash else None
        # The same argon2 work whether or not the address has an account.
        matches = await self._verify(hashed or self._dummy_hash, body.password)
        if user is None or hashed is None or not matches:
            await self._failed(body.email, user.id if user else None, client, "credentials")
            raise ProblemError(401, WRONG_CREDENTIALS)
        if not user.email_verified:
            # Only someone who knows the password learns this.
            raise ProblemError(
                403, "confirm your e-mail address first: we sent you a link", type_="unverified"
            )
        if user.mfa_enabled:
            async with self.db.write() as session:
                jti = _new_id()
                expires = utcnow() + timedelta(seconds=self.settings.mfa_challenge_ttl_seconds)
                session.add(
                    OneTimeToken(id=jti, user_id=user.id, purpose="mfa", expires_at=expires)
                )
            challenge = self._sign_link(
                user.id, "mfa", jti, self.settings.mfa_challenge_ttl_seconds
            )
            return s.MfaChallenge(
                challenge=challenge, expires_in=self.settings.mfa_challenge_ttl_seconds
            )
        await self.failures.reset(_sha256(body.email))
        async with self.db.write() as session:
            await self._audit(session, "sign_in", user.id, client, mfa=False)
            return await self._tokens(session, user, mfa=False)

    async def answer_mfa(self, body: s.MfaAnswer, client: Client) -> s.Tokens:
        await self._rate_limit(client, "sign-in")
        claims = self._read_link(body.challenge, "mfa")
        async with self.db.read() as session:
            user = await self._user(session, str(claims["sub"]))
        email = user.email or ""
        await self._locked(email)
        how = await self._check_second_factor(user, body.code)
        if how is None:
            await self._failed(email, user.id, client, "mfa")
            raise ProblemError(401, "that code is not right")
        async with self.db.write() as session:
            await self._use_link(session, claims, "mfa")
            user = await self._user(session, user.id)
            await self._audit(session, "sign_in", user.id, client, mfa=True, factor=how)
            tokens = await self._tokens(session, user, mfa=True)
        await self.failures.reset(_sha256(email))
        return tokens

    def _recovery_hash(self, code: str) -> str:
        normalized = code.replace("-", "").replace(" ", "").lower()
        return hmac.new(self._secret.encode(), normalized.encode(), hashlib.sha256).hexdigest()

    async def _check_second_factor(self, user: User, code: str) -> str | None:
        """'totp' or 'recovery' if the code is good (and now spent), else None."""
        digits = code.replace(" ", "")
        if user.mfa_secret and digits.isdigit() and len(digits) == 6:
            totp = pyotp.TOTP(self.box.open(user.mfa_secret))
            if totp.verify(digits, valid_window=1):
                # A code works once, even within its 30 seconds.
                used = f"acct-totp:{user.id}:{digits}"
                if await self._cache.compare_and_set(used, None, b"1", ttl=120):
                    return "totp"
            return None
        async with self.db.write() as session:
            result = await session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == self._recovery_hash(code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utcnow())
            )
            return "recovery" if _rowcount(result) == 1 else None

    async def _tokens(self, session: AsyncSession, user: User, *, mfa: bool) -> s.Tokens:
        return await self._rotate_into(session, user, family=_new_id(), mfa=mfa)

    async def _rotate_into(
        self, session: AsyncSession, user: User, *, family: str, mfa: bool
    ) -> s.Tokens:
        secret = secrets.token_urlsafe(32)
        row = RefreshToken(
            id=_new_id(),
            family=family,
            user_id=user.id,
            token_hash=_sha256(secret),
            token_version=user.token_version,
            mfa=mfa,
            expires_at=utcnow() + timedelta(seconds=self.auth.settings.refresh_ttl_seconds),
        )
        session.add(row)
        pending = self.mfa_required(user) and not user.mfa_enabled
        access = self.auth.issue_access(
            user.id,
            frozenset(user.roles),
            email=user.email or "",
            session=family,
            extra={"mfa_pending": True} if pending else None,
        )
        return s.Tokens(
            access_token=access,
            expires_in=self.auth.settings.access_ttl_seconds,
            refresh_token=secret,
            mfa_enrolment_required=pending,
        )

    async def refresh(self, body: s.Refresh, client: Client) -> s.Tokens:
        digest = _sha256(body.refresh_token)
        reused: RefreshToken | None = None
        async with self.db.write() as session:
            row = (
                await session.execute(select(RefreshToken).where(RefreshToken.token_hash == digest))
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                raise ProblemError(401, "the refresh token is not valid")
            if aware(row.expires_at) < utcnow():
                raise ProblemError(401, "the refresh token has expired; sign in again")
            claimed = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
                .values(used_at=utcnow())
            )
            if _rowcount(claimed) != 1:
                reused = row
            else:
                user = await session.get(User, row.user_id)
                if user is None or user.status != "active":
                    raise ProblemError(401, "the refresh token is not valid")
                if user.token_version != row.token_version:
                    raise ProblemError(401, "your password or roles changed; sign in again")
                return await self._rotate_into(session, user, family=row.family, mfa=row.mfa)
        # A rotated token came back: someone kept a copy. End the whole family.
        await self.revoke_family(reused.family)
        await self.audit("refresh_token_reused", reused.user_id, client, family=reused.family)
        raise ProblemError(401, "this refresh token was already used; sign in again")

    async def revoke_family(self, family: str) -> None:
        """End one sign-in: its refresh tokens, and its access tokens everywhere
        (the family is their ``sid``; every service checks the shared list)."""
        async with self.db.write() as session:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        await self.auth.revocations.revoke(family)

    async def _end_every_sign_in(self, session: AsyncSession, user_id: str) -> None:
        """Every sign-in of the account ends, access tokens included (a password
        change or reset, erasure, new roles)."""
        live = RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        families = set((await session.execute(select(RefreshToken.family).where(*live))).scalars())
        await session.execute(update(RefreshToken).where(*live).values(revoked_at=utcnow()))
        for family in families:
            await self.auth.revocations.revoke(family)

    async def sign_out(self, body: s.Refresh, client: Client) -> None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(RefreshToken).where(
                        RefreshToken.token_hash == _sha256(body.refresh_token)
                    )
                )
            ).scalar_one_or_none()
        if row is not None:
            await self.revoke_family(row.family)
            await self.audit("signed_out", row.user_id, client)

    # ----------------------------------------------------- password reset

    async def forgot_password(self, body: s.ForgotPassword, client: Client) -> None:
        await self._rate_limit(client, "reset")
        async with self.db.write() as session:
            user = (
                await session.execute(
                    select(User).where(User.email == body.email, User.status == "active")
                )
            ).scalar_one_or_none()
            if user is None:
                return
            token, expires = await self._issue_link(
                session, user.id, "reset", self.settings.reset_ttl_seconds
            )
            link = self._link("/account/reset", token)
            await self._event(
                session,
                "password_reset_requested",
                {
                    "user_id": user.id,
                    "email": user.email,
                    "link": link,
                    "expires_at": expires.isoformat(),
                },
            )
            await self._audit(session, "password_reset_requested", user.id, client)
            self._log_link("password reset", body.email, link)
        self.relay.wake()

    async def _set_password(
        self, session: AsyncSession, user: User, password: str, client: Client, event: str
    ) -> None:
        user.password_hash = await self._hash(password)
        user.token_version += 1
        await self._end_every_sign_in(session, user.id)
        await self._event(session, "password_changed", {"user_id": user.id, "email": user.email})
        await self._audit(session, event, user.id, client)

    async def reset_password(self, body: s.ResetPassword, client: Client) -> None:
        claims = self._read_link(body.token, "reset")
        async with self.db.write() as session:
            user_id = await self._use_link(session, claims, "reset")
            user = await self._user(session, user_id)
            # Following the link proves the address too.
            user.email_verified = True
            await self._set_password(session, user, body.password, client, "password_reset")
        if user.email:
            await self.failures.reset(_sha256(user.email))
        self.relay.wake()

    async def change_password(
        self, principal: Principal, body: s.ChangePassword, client: Client
    ) -> None:
        async with self.db.read() as session:
            user = await self._user(session, local_id(principal))
        if not user.password_hash or not await self._verify(
            user.password_hash, body.current_password
        ):
            await self.audit("password_change_failed", user.id, client)
            raise ProblemError(400, "the current password is wrong")
        async with self.db.write() as session:
            user = await self._user(session, user.id)
            await self._set_password(session, user, body.new_password, client, "password_changed")
        self.relay.wake()

    # ---------------------------------------------------------------- MFA

    async def enrol_mfa(self, principal: Principal, client: Client) -> s.MfaEnrolment:
        async with self.db.write() as session:
            user = await self._account(session, principal)
            if user.mfa_enabled:
                raise ProblemError(409, "two-factor authentication is already on")
            # Until confirmed, enrolling again shows the same secret (a reloaded page).
            if user.mfa_secret:
                secret = self.box.open(user.mfa_secret)
            else:
                secret = pyotp.random_base32()
                user.mfa_secret = self.box.seal(secret)
            await self._audit(session, "mfa_enrolment_started", user.id, client)
            label = user.email or user.id
        uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=self.store_name)
        svg = segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator")
        return s.MfaEnrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)

    async def confirm_mfa(
        self, principal: Principal, body: s.ConfirmMfa, client: Client
    ) -> s.RecoveryCodes:
        async with self.db.read() as session:
            user = await self._user(session, local_id(principal))
        if user.mfa_enabled or not user.mfa_secret:
            raise ProblemError(409, "start enrolment first")
        if await self._check_second_factor(user, body.code) != "totp":
            await self.audit("mfa_enrolment_failed", user.id, client)
            raise ProblemError(400, "that code is not right; check your device's clock")
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        async with self.db.write() as session:
            user = await self._user(session, user.id)
            user.mfa_enabled = True
            await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            for code in codes:
                session.add(RecoveryCode(user_id=user.id, code_hash=self._recovery_hash(code)))
            await self._event(session, "mfa_enabled", {"user_id": user.id})
            await self._audit(session, "mfa_enabled", user.id, client)
        self.relay.wake()
        return s.RecoveryCodes(recovery_codes=codes)

    async def disable_mfa(self, principal: Principal, body: s.DisableMfa, client: Client) -> None:
        async with self.db.read() as session:
            user = await self._user(session, local_id(principal))
        if not user.mfa_enabled:
            raise ProblemError(409, "two-factor authentication is off")
        if self.mfa_required(user):
            raise ProblemError(409, "this store requires two-factor authentication")
        # Wrong codes here count as failed sign-ins: a stolen session must not
        # get unlimited guesses at the code that turns the second factor off.
        address = user.email or user.id
        await self._locked(address)
        if await self._check_second_factor(user, body.code) is None:
            await self.failures.hit(_sha256(address), self.settings.lockout_seconds)
            await self.audit("mfa_disable_failed", user.id, client)
            raise ProblemError(400, "that code is not right")
        async with self.db.write() as session:
            user = await self._user(session, user.id)
            user.mfa_enabled = False
            user.mfa_secret = None
            await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            await self._event(session, "mfa_disabled", {"user_id": user.id})
            await self._audit(session, "mfa_disabled", user.id, client)
        self.relay.wake()

    # ----------------------------------------------- profile and addresses

    async def _account(self, session: AsyncSession, principal: Principal) -> User:
        """The principal's account; a Keycloak user's is made on first use."""
        ident = local_id(principal)
        user = await session.get(User, ident)
        if user is None and principal.source == "oidc":
            user = User(
                id=ident,
                email=principal.email.lower() or None,
                email_verified=bool(principal.claims.get("email_verified")),
                name=str(principal.claims.get("name", "")),
                roles=sorted(principal.roles) or [CUSTOMER],
                channels={"email": True, "sms": False, "push": False},
                language=str(principal.claims.get("locale", "en"))[:16] or "en",
            )
            session.add(user)
            await session.flush()
        if user is None or user.status != "active":
            raise NotFound("no such account")
        return user

    async def profile(self, principal: Principal) -> s.Profile:
        async with self.db.write() as session:
            return self._profile(await self._account(session, principal))

    async def update_profile(self, principal: Principal, body: s.ProfilePatch) -> s.Profile:
        async with self.db.write() as session:
            user = await self._account(session, principal)
            if body.name is not None:
                user.name = body.name
            if body.language is not None:
                user.language = body.language
            if body.channels is not None:
                user.channels = {
                    **(user.channels or {}),
                    **{str(k): v for k, v in body.channels.items()},
                }
            if body.marketing_opt_in is not None:
                user.marketing_opt_in = body.marketing_opt_in
            await self._event(
                session,
                "preferences_changed",
                {
                    "user_id": user.id,
                    "language": user.language,
                    "channels": user.channels,
                    "marketing_opt_in": user.marketing_opt_in,
                },
            )
            profile = self._profile(user)
        self.relay.wake()
        return profile

    @staticmethod
    def _address(row: Address) -> s.Address:
        return s.Address(
            id=row.id,
            label=row.label,
            name=row.name,
            line1=row.line1,
            line2=row.line2,
            city=row.city,
            postal_code=row.postal_code,
            country=row.country,
            phone=row.phone,
            is_default=row.is_default,
        )

    async def addresses(self, principal: Principal) -> list[s.Address]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Address)
                    .where(Address.user_id == local_id(principal))
                    .order_by(Address.is_default.desc(), Address.created_at)
                )
            ).scalars()
            return [self._address(row) for row in rows]

    async def add_address(self, principal: Principal, body: s.AddressIn) -> s.Address:
        async with self.db.write() as session:
            user = await self._account(session, principal)
            count = await session.scalar(
                select(func.count()).select_from(Address).where(Address.user_id == user.id)
            )
            if (count or 0) >= 20:
                raise ProblemError(409, "an account keeps at most 20 addresses")
            if body.is_default or not count:
                await session.execute(
                    update(Address).where(Address.user_id == user.id).values(is_default=False)
                )
            row = Address(id=_new_id(), user_id=user.id, **body.model_dump(exclude={"is_default"}))
            row.is_default = body.is_default or not count
            session.add(row)
            await session.flush()
            return self._address(row)

    async def replace_address(
        self, principal: Principal, address_id: str, body: s.AddressIn
    ) -> s.Address:
        async with self.db.write() as session:
            row = await session.get(Address, address_id)
            if row is None or row.user_id != local_id(principal):
                raise NotFound("no such address")
            for key, value in body.model_dump(exclude={"is_default"}).items():
                setattr(row, key, value)
            if body.is_default:
                await session.execute(
                    update(Address)
                    .where(Address.user_id == row.user_id, Address.id != row.id)
                    .values(is_default=False)
                )
                row.is_default = True
            return self._address(row)

    async def delete_address(self, principal: Principal, address_id: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Address, address_id)
            if row is None or row.user_id != local_id(principal):
                raise NotFound("no such address")
            await session.delete(row)

    # ------------------------------------------------------------ privacy

    async def export(self, principal: Principal, client: Client) -> dict[str, Any]:
        """Everything this store's accounts service holds about the person."""
        async with self.db.write() as session:
            user = await self._account(session, principal)
            addresses = (
                await session.execute(select(Address).where(Address.user_id == user.id))
            ).scalars()
            events = (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.user_id == user.id).order_by(AuditEvent.at)
                )
            ).scalars()
            sessions = (
                await session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id))
            ).scalars()
            document = {
                "exported_at": utcnow().isoformat(),
                "store": self.store_name,
                "profile": self._profile(user).model_dump(mode="json"),
                "addresses": [self._address(a).model_dump(mode="json") for a in addresses],
                "security_events": [
                    {
                        "event": e.event,
                        "at": aware(e.at).isoformat(),
                        "ip": e.ip,
                        "detail": e.detail,
                    }
                    for e in events
                ],
                "sign_ins": [
                    {
                        "issued_at": aware(t.issued_at).isoformat(),
                        "expires_at": aware(t.expires_at).isoformat(),
                        "revoked": t.revoked_at is not None,
                    }
                    for t in sessions
                ],
                "recovery_codes_remaining": await session.scalar(
                    select(func.count())
                    .select_from(RecoveryCode)
                    .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
                ),
                "notes": "Orders, payments and notifications are exported by those services.",
            }
            await self._event(session, "data_exported", {"user_id": user.id})
            await self._audit(session, "data_exported", user.id, client)
        self.relay.wake()
        return document

    async def erase(self, principal: Principal, body: s.DeleteAccount, client: Client) -> None:
        """Erase the person's data; keep anonymised records (the account id and
        the kinds and times of security events) for the audit trail."""
        async with self.db.read() as session:
            user = await self._user(session, local_id(principal))
        if user.password_hash and not await self._verify(user.password_hash, body.password):
            await self.audit("account_deletion_failed", user.id, client)
            raise ProblemError(400, "the password is wrong")
        async with self.db.write() as session:
            user = await self._user(session, user.id)
            user.email = None
            user.name = ""
            user.password_hash = None
            user.mfa_secret = None
            user.mfa_enabled = False
            user.channels = {}
            user.marketing_opt_in = False
            user.roles = []
            user.status = "erased"
            user.erased_at = utcnow()
            user.token_version += 1
            for table in (Address, RecoveryCode, OneTimeToken):
                await session.execute(delete(table).where(table.user_id == user.id))
            await self._end_every_sign_in(session, user.id)
            await session.execute(
                update(AuditEvent).where(AuditEvent.user_id == user.id).values(ip="", detail={})
            )
            await self._event(session, "erased", {"user_id": user.id})
            await self._audit(session, "account_erased", user.id, Client())
        self.relay.wake()

    async def security_events(
        self, user_id: str | None = None, limit: int = 100
    ) -> list[s.AuditEntry]:
        async with self.db.read() as session:
            query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            if user_id is not None:
                query = query.where(AuditEvent.user_id == user_id)
            rows = (await session.execute(query.limit(limit))).scalars()
            return [
                s.AuditEntry(
                    event=r.event, at=aware(r.at), ip=r.ip, user_id=r.user_id, detail=r.detail
                )
                for r in rows
            ]

    # -------------------------------------------------------------- staff

    async def customers(self, q: str, offset: int, limit: int) -> s.CustomerPage:
        async with self.db.read() as session:
            query = select(User).where(User.status == "active")
            if q:
                like = f"%{q.lower().replace('%', '').replace('_', '')}%"
                query = query.where(or_(User.email.like(like), func.lower(User.name).like(like)))
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (
                await session.execute(
                    query.order_by(User.created_at.desc()).offset(offset).limit(limit)
                )
            ).scalars()
            return s.CustomerPage(items=[self._summary(u) for u in rows], total=total or 0)

    @staticmethod
    def _summary(user: User) -> s.CustomerSummary:
        return s.CustomerSummary(
            id=user.id,
            email=user.email or "",
            name=user.name,
            roles=list(user.roles),
            status=user.status,
            email_verified=user.email_verified,
            mfa_enabled=user.mfa_enabled,
            created_at=aware(user.created_at),
        )

    async def customer(self, user_id: str) -> s.CustomerSummary:
        async with self.db.read() as session:
            return self._summary(await self._user(session, user_id))

    async def set_roles(
        self, actor: Principal, user_id: str, body: s.RolesIn, client: Client
    ) -> s.CustomerSummary:
        roles: list[str] = sorted(set(body.roles) & set(ROLES))
        async with self.db.write() as session:
            user = await self._user(session, user_id)
            before = list(user.roles)
            user.roles = roles
            # New roles take effect at the next sign-in; tokens with the old ones end now.
            user.token_version += 1
            await self._end_every_sign_in(session, user.id)
            await self._audit(
                session,
                "roles_changed",
                user.id,
                client,
                before=before,
                after=roles,
                by=actor.subject,
            )
            return self._summary(user)
