"""Registration and e-mail verification. Registering answers the same whether
or not the address has an account: its owner hears of the attempt, and an
address never confirmed gets a new link."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.changes import emit
from storefleet.runtime.accounts.hashing import hash_password
from storefleet.runtime.accounts.limits import Throttle
from storefleet.runtime.accounts.links import Links
from storefleet.runtime.accounts.models import User
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import active_user, new_id
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.identity.permissions import CUSTOMER, STORE_ADMIN
from storefleet.runtime.platform.storage.db import Database


class Registration:
    def __init__(
        self,
        db: Database,
        settings: AccountsSettings,
        relay: OutboxRelay,
        throttle: Throttle,
        links: Links,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.settings = settings
        self.relay = relay
        self.throttle = throttle
        self.links = links
        self.audit = audit

    async def register(self, body: s.Register, client: Client) -> None:
        await self.throttle.check(client, "register")
        hashed = await hash_password(body.password)
        async with self.db.write() as session:
            existing = (
                await session.execute(select(User).where(User.email == body.email))
            ).scalar_one_or_none()
            if existing is not None and existing.email_verified:
                # The owner hears of it; the caller can't tell the difference.
                await emit(
                    session,
                    "account.registration_attempted",
                    {"user_id": existing.id, "email": body.email},
                )
                self.audit.record(session, "registration_attempted", existing.id, client)
            elif existing is not None:
                # Never confirmed (a lost mail?): a new link to the address, the
                # account and its password unchanged.
                await self._send_verification(session, existing, client, "verification_resent")
            else:
                user = User(
                    id=new_id(),
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
        token, expires = self.links.issue(
            session, user.id, "verify", self.settings.verification_ttl_seconds
        )
        link = self.links.url("/account/verify", token)
        await emit(
            session,
            "account.verification_requested",
            {
                "user_id": user.id,
                "email": user.email,
                "name": user.name,
                "link": link,
                "expires_at": expires.isoformat(),
            },
        )
        self.audit.record(session, audit_event, user.id, client)
        self.links.log("verification", user.email or "", link)

    async def verify_email(self, body: s.VerifyEmail, client: Client) -> None:
        claims = self.links.read(body.token, "verify")
        async with self.db.write() as session:
            user_id = await self.links.use(session, claims, "verify")
            user = await active_user(session, user_id)
            user.email_verified = True
            admins = {e.lower() for e in self.settings.admin_emails}
            if user.email in admins and STORE_ADMIN not in user.roles:
                user.roles = [*user.roles, STORE_ADMIN]
            await emit(session, "account.email_verified", {"user_id": user.id})
            self.audit.record(session, "email_verified", user.id, client)
        self.relay.wake()
