"""Passwords: the forgotten-password link (silent for an unknown address), the
reset it leads to, and a signed-in change; a new password ends every sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.changes import emit
from storefleet.runtime.accounts.hashing import hash_password, verify_password
from storefleet.runtime.accounts.limits import Lockout, Throttle
from storefleet.runtime.accounts.links import Links
from storefleet.runtime.accounts.models import User
from storefleet.runtime.accounts.sessions import Sessions
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import active_user, local_id
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError


class Passwords:
    def __init__(
        self,
        db: Database,
        settings: AccountsSettings,
        relay: OutboxRelay,
        throttle: Throttle,
        lockout: Lockout,
        links: Links,
        sessions: Sessions,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.settings = settings
        self.relay = relay
        self.throttle = throttle
        self.lockout = lockout
        self.links = links
        self.sessions = sessions
        self.audit = audit

    async def forgot_password(self, body: s.ForgotPassword, client: Client) -> None:
        await self.throttle.check(client, "reset")
        async with self.db.write() as session:
            user = (
                await session.execute(
                    select(User).where(User.email == body.email, User.status == "active")
                )
            ).scalar_one_or_none()
            if user is None:
                return
            token, expires = self.links.issue(
                session, user.id, "reset", self.settings.reset_ttl_seconds
            )
            link = self.links.url("/account/reset", token)
            await emit(
                session,
                "account.password_reset_requested",
                {
                    "user_id": user.id,
                    "email": user.email,
                    "link": link,
                    "expires_at": expires.isoformat(),
                },
            )
            self.audit.record(session, "password_reset_requested", user.id, client)
            self.links.log("password reset", body.email, link)
        self.relay.wake()

    async def _set_password(
        self, session: AsyncSession, user: User, password: str, client: Client, event: str
    ) -> None:
        user.password_hash = await hash_password(password)
        user.token_version += 1
        await self.sessions.end_every_sign_in(session, user.id)
        await emit(session, "account.password_changed", {"user_id": user.id, "email": user.email})
        self.audit.record(session, event, user.id, client)

    async def reset_password(self, body: s.ResetPassword, client: Client) -> None:
        claims = self.links.read(body.token, "reset")
        async with self.db.write() as session:
            user_id = await self.links.use(session, claims, "reset")
            user = await active_user(session, user_id)
            # Following the link proves the address too.
            user.email_verified = True
            await self._set_password(session, user, body.password, client, "password_reset")
        if user.email:
            await self.lockout.clear(user.email)
        self.relay.wake()

    async def change_password(
        self, principal: Principal, body: s.ChangePassword, client: Client
    ) -> None:
        async with self.db.read() as session:
            user = await active_user(session, local_id(principal))
        if not user.password_hash or not await verify_password(
            user.password_hash, body.current_password
        ):
            await self.audit.write("password_change_failed", user.id, client)
            raise ProblemError(400, "the current password is wrong")
        async with self.db.write() as session:
            user = await active_user(session, user.id)
            await self._set_password(session, user, body.new_password, client, "password_changed")
        self.relay.wake()
