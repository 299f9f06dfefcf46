"""Sessions: the access token and rotating refresh tokens of one sign-in (a
token family), refreshing, signing out, and ending sessions everywhere."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.audit import AuditLog, Client
from storefleet.runtime.accounts.models import RefreshToken, User
from storefleet.runtime.accounts.second_factor import mfa_required
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import aware, new_id, rowcount, sha256
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.identity.tokens import Authenticator
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError


class Sessions:
    def __init__(
        self, db: Database, auth: Authenticator, settings: AccountsSettings, audit: AuditLog
    ) -> None:
        self.db = db
        self.auth = auth
        self.settings = settings
        self.audit = audit

    async def start(self, session: AsyncSession, user: User, *, mfa: bool) -> s.Tokens:
        """The tokens of a new sign-in."""
        return await self._rotate_into(session, user, family=new_id(), mfa=mfa)

    async def _rotate_into(
        self, session: AsyncSession, user: User, *, family: str, mfa: bool
    ) -> s.Tokens:
        secret = secrets.token_urlsafe(32)
        row = RefreshToken(
            id=new_id(),
            family=family,
            user_id=user.id,
            token_hash=sha256(secret),
            token_version=user.token_version,
            mfa=mfa,
            expires_at=utcnow() + timedelta(seconds=self.auth.settings.refresh_ttl_seconds),
        )
        session.add(row)
        pending = mfa_required(self.settings, user) and not user.mfa_enabled
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
        digest = sha256(body.refresh_token)
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
            if rowcount(claimed) != 1:
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
        await self.audit.write("refresh_token_reused", reused.user_id, client, family=reused.family)
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

    async def end_every_sign_in(self, session: AsyncSession, user_id: str) -> None:
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
                        RefreshToken.token_hash == sha256(body.refresh_token)
                    )
                )
            ).scalar_one_or_none()
        if row is not None:
            await self.revoke_family(row.family)
            await self.audit.write("signed_out", row.user_id, client)
