"""Server-side browser sessions.

The browser holds only a random session id, in a ``Secure; HttpOnly;
SameSite=Lax`` cookie; what the session knows (who signed in, their tokens)
stays in the cache (memory on a laptop, Redis in a cluster) under a hash of
that id, so a leaked cache key can't be replayed as a cookie.

Forms are guarded against cross-site forgery by
:mod:`~storefleet.runtime.platform.web.browser_guard`, for signed-in shoppers
and anonymous visitors alike.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from storefleet.runtime.platform.storage.cache import Cache


@dataclass
class Session:
    id: str
    data: dict[str, Any] = field(default_factory=dict)
    new: bool = False

    @property
    def user(self) -> dict[str, Any] | None:
        found = self.data.get("user")
        return found if isinstance(found, dict) else None


class SessionStore:
    def __init__(
        self,
        cache: Cache,
        *,
        cookie: str = "sf_session",
        ttl_seconds: int = 7 * 86_400,
        secure: bool = True,
        prefix: str = "session:",
    ) -> None:
        self.cache = cache
        self.cookie = cookie
        self.ttl = ttl_seconds
        self.secure = secure
        self._prefix = prefix

    def _key(self, session_id: str) -> str:
        return self._prefix + hashlib.sha256(session_id.encode()).hexdigest()

    async def load(self, request: Request) -> Session | None:
        session_id = request.cookies.get(self.cookie, "")
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.cache.get(self._key(session_id))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return Session(session_id, data) if isinstance(data, dict) else None

    async def load_or_start(self, request: Request) -> Session:
        found = await self.load(request)
        if found is not None:
            return found
        session = Session(secrets.token_urlsafe(32), {}, True)
        await self.save(session)
        return session

    async def save(self, session: Session) -> None:
        await self.cache.set(self._key(session.id), json.dumps(session.data).encode(), ttl=self.ttl)

    async def rotate(self, session: Session) -> Session:
        """A new id for the same data (at sign-in: defeats session fixation)."""
        await self.cache.delete(self._key(session.id))
        fresh = Session(secrets.token_urlsafe(32), dict(session.data), True)
        await self.save(fresh)
        return fresh

    async def end(self, session: Session) -> None:
        await self.cache.delete(self._key(session.id))

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            self.cookie,
            session.id,
            max_age=self.ttl,
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True)
