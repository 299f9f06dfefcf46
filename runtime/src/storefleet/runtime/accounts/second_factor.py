"""The second factor: TOTP (its secret sealed at rest) and single-use
recovery codes; enrolling, confirming and turning it off; the store's policy."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import segno
from sqlalchemy import delete, update

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.changes import emit
from storefleet.runtime.accounts.limits import Lockout
from storefleet.runtime.accounts.models import RecoveryCode, User
from storefleet.runtime.accounts.secrets_at_rest import SecretBox
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import account_of, active_user, local_id, rowcount
from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.identity.tokens import Authenticator, Principal
from storefleet.runtime.platform.storage.cache import Cache
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError

RECOVERY_CODES = 10


def mfa_required(settings: AccountsSettings, user: User) -> bool:
    """Whether the store makes this account use a second factor."""
    return settings.mfa_policy == "required"


class SecondFactor:
    def __init__(
        self,
        db: Database,
        cache: Cache,
        box: SecretBox,
        settings: AccountsSettings,
        relay: OutboxRelay,
        auth: Authenticator,
        lockout: Lockout,
        audit: AuditLog,
        store_name: str,
    ) -> None:
        self.db = db
        self._cache = cache
        # MFA secrets are stored sealed; only this service opens them.
        self.box = box
        self.settings = settings
        self.relay = relay
        self.auth = auth
        self.lockout = lockout
        self.audit = audit
        self.store_name = store_name

    def _recovery_hash(self, code: str) -> str:
        # Keyed with this service's own secret, as its links are.
        normalized = code.replace("-", "").replace(" ", "").lower()
        secret = self.auth.settings.jwt_secret
        return hmac.new(secret.encode(), normalized.encode(), hashlib.sha256).hexdigest()

    async def check(self, user: User, code: str) -> str | None:
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
            return "recovery" if rowcount(result) == 1 else None

    async def enrol_mfa(self, principal: Principal, client: Client) -> s.MfaEnrolment:
        async with self.db.write() as session:
            user = await account_of(session, principal)
            if user.mfa_enabled:
                raise ProblemError(409, "two-factor authentication is already on")
            # Until confirmed, enrolling again shows the same secret (a reloaded page).
            if user.mfa_secret:
                secret = self.box.open(user.mfa_secret)
            else:
                secret = pyotp.random_base32()
                user.mfa_secret = self.box.seal(secret)
            self.audit.record(session, "mfa_enrolment_started", user.id, client)
            label = user.email or user.id
        uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=self.store_name)
        svg = segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator")
        return s.MfaEnrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)

    async def confirm_mfa(
        self, principal: Principal, body: s.ConfirmMfa, client: Client
    ) -> s.RecoveryCodes:
        async with self.db.read() as session:
            user = await active_user(session, local_id(principal))
        if user.mfa_enabled or not user.mfa_secret:
            raise ProblemError(409, "start enrolment first")
        if await self.check(user, body.code) != "totp":
            await self.audit.write("mfa_enrolment_failed", user.id, client)
            raise ProblemError(400, "that code is not right; check your device's clock")
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        async with self.db.write() as session:
            user = await active_user(session, user.id)
            user.mfa_enabled = True
            await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            for code in codes:
                session.add(RecoveryCode(user_id=user.id, code_hash=self._recovery_hash(code)))
            await emit(session, "account.mfa_enabled", {"user_id": user.id})
            self.audit.record(session, "mfa_enabled", user.id, client)
        self.relay.wake()
        return s.RecoveryCodes(recovery_codes=codes)

    async def disable_mfa(self, principal: Principal, body: s.DisableMfa, client: Client) -> None:
        async with self.db.read() as session:
            user = await active_user(session, local_id(principal))
        if not user.mfa_enabled:
            raise ProblemError(409, "two-factor authentication is off")
        if mfa_required(self.settings, user):
            raise ProblemError(409, "this store requires two-factor authentication")
        # Wrong codes here count as failed sign-ins: a stolen session must not
        # get unlimited guesses at the code that turns the second factor off.
        address = user.email or user.id
        await self.lockout.check(address)
        if await self.check(user, body.code) is None:
            await self.lockout.fail(address)
            await self.audit.write("mfa_disable_failed", user.id, client)
            raise ProblemError(400, "that code is not right")
        async with self.db.write() as session:
            user = await active_user(session, user.id)
            user.mfa_enabled = False
            user.mfa_secret = None
            await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            await emit(session, "account.mfa_disabled", {"user_id": user.id})
            self.audit.record(session, "mfa_disabled", user.id, client)
        self.relay.wake()
