"""Signing in: the password step (the same answer and argon2 work for an
unknown address as for a wrong password), the second-factor step, and the
lockout both count towards."""

from __future__ import annotations

from sqlalchemy import select

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.hashing import dummy_hash, verify_password
from storefleet.runtime.accounts.limits import Lockout, Throttle
from storefleet.runtime.accounts.links import Links
from storefleet.runtime.accounts.models import User
from storefleet.runtime.accounts.second_factor import SecondFactor
from storefleet.runtime.accounts.sessions import Sessions
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import active_user
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError

WRONG_CREDENTIALS = "the e-mail address or the password is wrong"


class SigningIn:
    def __init__(
        self,
        db: Database,
        settings: AccountsSettings,
        throttle: Throttle,
        lockout: Lockout,
        links: Links,
        second_factor: SecondFactor,
        sessions: Sessions,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.settings = settings
        self.throttle = throttle
        self.lockout = lockout
        self.links = links
        self.second_factor = second_factor
        self.sessions = sessions
        self.audit = audit
        self._dummy_hash = dummy_hash()

    async def _failed(self, email: str, user_id: str | None, client: Client, why: str) -> None:
        await self.lockout.fail(email)
        await self.audit.write("sign_in_failed", user_id, client, reason=why)

    async def sign_in(self, body: s.SignIn, client: Client) -> s.Tokens | s.MfaChallenge:
        await self.throttle.check(client, "sign-in")
        await self.lockout.check(body.email)
        async with self.db.read() as session:
            user = (
                await session.execute(
                    select(User).where(User.email == body.email, User.status == "active")
                )
            ).scalar_one_or_none()
        hashed = user.password_hash if user is not None and user.password_hash else None
        # The same argon2 work whether or not the address has an account.
        matches = await verify_password(hashed or self._dummy_hash, body.password)
        if user is None or hashed is None or not matches:
            await self._failed(body.email, user.id if user else None, client, "credentials")
            raise ProblemError(401, WRONG_CREDENTIALS)
        if not user.email_verified:
            # Only someone who knows the password learns this.
            raise ProblemError(
                403, "confirm your e-mail address first: we sent you a link", type_="unverified"
            )
        if user.mfa_enabled:
            ttl = self.settings.mfa_challenge_ttl_seconds
            async with self.db.write() as session:
                challenge, _ = self.links.issue(session, user.id, "mfa", ttl)
            return s.MfaChallenge(challenge=challenge, expires_in=ttl)
        await self.lockout.clear(body.email)
        async with self.db.write() as session:
            self.audit.record(session, "sign_in", user.id, client, mfa=False)
            return await self.sessions.start(session, user, mfa=False)

    async def answer_mfa(self, body: s.MfaAnswer, client: Client) -> s.Tokens:
        await self.throttle.check(client, "sign-in")
        claims = self.links.read(body.challenge, "mfa")
        async with self.db.read() as session:
            user = await active_user(session, str(claims["sub"]))
        email = user.email or ""
        await self.lockout.check(email)
        how = await self.second_factor.check(user, body.code)
        if how is None:
            await self._failed(email, user.id, client, "mfa")
            raise ProblemError(401, "that code is not right")
        async with self.db.write() as session:
            await self.links.use(session, claims, "mfa")
            user = await active_user(session, user.id)
            self.audit.record(session, "sign_in", user.id, client, mfa=True, factor=how)
            tokens = await self.sessions.start(session, user, mfa=True)
        await self.lockout.clear(email)
        return tokens
