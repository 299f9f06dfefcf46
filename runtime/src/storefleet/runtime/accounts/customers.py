"""Customers as store staff see them: a searchable list, one customer, and
their roles (new roles end the customer's sign-ins)."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.models import User
from storefleet.runtime.accounts.sessions import Sessions
from storefleet.runtime.accounts.users import active_user, aware
from storefleet.runtime.platform.identity.permissions import ROLES
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.storage.db import Database


def summary_of(user: User) -> s.CustomerSummary:
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


class Customers:
    def __init__(self, db: Database, sessions: Sessions, audit: AuditLog) -> None:
        self.db = db
        self.sessions = sessions
        self.audit = audit

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
            return s.CustomerPage(items=[summary_of(u) for u in rows], total=total or 0)

    async def customer(self, user_id: str) -> s.CustomerSummary:
        async with self.db.read() as session:
            return summary_of(await active_user(session, user_id))

    async def set_roles(
        self, actor: Principal, user_id: str, body: s.RolesIn, client: Client
    ) -> s.CustomerSummary:
        roles: list[str] = sorted(set(body.roles) & set(ROLES))
        async with self.db.write() as session:
            user = await active_user(session, user_id)
            before = list(user.roles)
            user.roles = roles
            # New roles take effect at the next sign-in; tokens with the old ones end now.
            user.token_version += 1
            await self.sessions.end_every_sign_in(session, user.id)
            self.audit.record(
                session,
                "roles_changed",
                user.id,
                client,
                before=before,
                after=roles,
                by=actor.subject,
            )
            return summary_of(user)
