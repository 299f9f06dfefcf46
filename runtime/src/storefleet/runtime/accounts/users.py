"""Accounts' rows: their ids, the digests kept instead of secrets, and the
active account of an id or of a signed-in principal."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts.models import User
from storefleet.runtime.platform.identity.permissions import CUSTOMER
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import NotFound


def new_id() -> str:
    return uuid.uuid4().hex


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def local_id(principal: Principal) -> str:
    """The account id of a principal: our own ids as they are, a Keycloak
    subject (a UUID) without its dashes, anything longer hashed."""
    subject = principal.subject.replace("-", "").lower()
    if len(subject) == 32 and all(c in "0123456789abcdef" for c in subject):
        return subject
    return sha256(f"{principal.realm}|{principal.subject}")[:32]


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


async def active_user(session: AsyncSession, user_id: str) -> User:
    """The account with this id; 404 when there is none or it is erased."""
    user = await session.get(User, user_id)
    if user is None or user.status != "active":
        raise NotFound("no such account")
    return user


async def account_of(session: AsyncSession, principal: Principal) -> User:
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
