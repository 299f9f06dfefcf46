"""A person's privacy requests: the export of everything this service holds
about them, and erasure, which keeps only anonymised records for the audit
trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.changes import emit
from storefleet.runtime.accounts.hashing import verify_password
from storefleet.runtime.accounts.models import (
    Address,
    AuditEvent,
    OneTimeToken,
    RecoveryCode,
    RefreshToken,
)
from storefleet.runtime.accounts.profiles import Profiles, address_of
from storefleet.runtime.accounts.sessions import Sessions
from storefleet.runtime.accounts.users import account_of, active_user, aware, local_id
from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError


class Privacy:
    def __init__(
        self,
        db: Database,
        relay: OutboxRelay,
        profiles: Profiles,
        sessions: Sessions,
        audit: AuditLog,
        store_name: str,
    ) -> None:
        self.db = db
        self.relay = relay
        self.profiles = profiles
        self.sessions = sessions
        self.audit = audit
        self.store_name = store_name

    async def export(self, principal: Principal, client: Client) -> dict[str, Any]:
        """Everything this store's accounts service holds about the person."""
        async with self.db.write() as session:
            user = await account_of(session, principal)
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
                "profile": self.profiles.profile_of(user).model_dump(mode="json"),
                "addresses": [address_of(a).model_dump(mode="json") for a in addresses],
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
            await emit(session, "account.data_exported", {"user_id": user.id})
            self.audit.record(session, "data_exported", user.id, client)
        self.relay.wake()
        return document

    async def erase(self, principal: Principal, body: s.DeleteAccount, client: Client) -> None:
        """Erase the person's data; keep anonymised records (the account id and
        the kinds and times of security events) for the audit trail."""
        async with self.db.read() as session:
            user = await active_user(session, local_id(principal))
        if user.password_hash and not await verify_password(user.password_hash, body.password):
            await self.audit.write("account_deletion_failed", user.id, client)
            raise ProblemError(400, "the password is wrong")
        async with self.db.write() as session:
            user = await active_user(session, user.id)
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
            await self.sessions.end_every_sign_in(session, user.id)
            await session.execute(
                update(AuditEvent).where(AuditEvent.user_id == user.id).values(ip="", detail={})
            )
            await emit(session, "account.erased", {"user_id": user.id})
            self.audit.record(session, "account_erased", user.id, Client())
        self.relay.wake()
