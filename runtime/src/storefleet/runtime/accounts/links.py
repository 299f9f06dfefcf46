"""Signed single-use links: address verification, password reset and the
second step of a sign-in. A link is a short-lived HS256 JWT whose ``jti``
names a one-time token row; only its first use counts."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts.models import OneTimeToken
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import new_id, rowcount
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.identity.tokens import Authenticator
from storefleet.runtime.platform.web.errors import ProblemError

log = logging.getLogger(__name__)


class Links:
    def __init__(self, auth: Authenticator, settings: AccountsSettings) -> None:
        self.auth = auth
        self.settings = settings

    @property
    def secret(self) -> str:
        """The key of this service's own links and recovery codes."""
        return self.auth.settings.jwt_secret

    def sign(self, user_id: str, purpose: str, jti: str, ttl: int) -> str:
        now = int(time.time())
        claims = {
            "iss": self.auth.settings.issuer,
            "aud": f"accounts:{purpose}",
            "sub": user_id,
            "jti": jti,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def read(self, token: str, purpose: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
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

    @staticmethod
    async def use(session: AsyncSession, claims: dict[str, Any], purpose: str) -> str:
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
        if rowcount(result) != 1:
            raise ProblemError(400, "this link has already been used or is no longer valid")
        return str(claims["sub"])

    def issue(
        self, session: AsyncSession, user_id: str, purpose: str, ttl: int
    ) -> tuple[str, datetime]:
        jti = new_id()
        expires = utcnow() + timedelta(seconds=ttl)
        session.add(OneTimeToken(id=jti, user_id=user_id, purpose=purpose, expires_at=expires))
        return self.sign(user_id, purpose, jti, ttl), expires

    def url(self, path: str, token: str) -> str:
        """Where the shopper opens a link: the store's page at ``path``."""
        return f"{self.settings.public_url.rstrip('/')}{path}?token={token}"

    def log(self, what: str, email: str, link: str) -> None:
        if self.settings.log_links:
            log.info("%s link for %s: %s", what, email, link)
