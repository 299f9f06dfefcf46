"""The notifications HTTP API.

Shoppers (bearer token): their preferences, their in-app inbox and its live
stream (server-sent events). Store admins (``/admin``): templates, previews,
the delivery log, a shopper's preferences, resending a failed message.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from storefleet.runtime.notifications import schemas as s
from storefleet.runtime.notifications.service import NotificationService
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import public, require
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

EventTypePath = Annotated[str, Path(pattern=r"^[a-z]+\.[a-z_]+$", max_length=100)]
LanguagePath = Annotated[str, Path(pattern=s.LANGUAGE)]
UserPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@:-]{1,100}$")]
IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def build_router(service: NotificationService, settings: NotificationsSettings) -> APIRouter:
    async def principal(
        request: Request, authorization: str | None, access_token: str | None = None
    ) -> str:
        """The signed-in shopper: a token signed with the shared secret (as the
        cart and orders accept) or an access token of the accounts service or
        the store's Keycloak realm."""
        token = auth.bearer(authorization) or access_token
        if not token:
            raise ProblemError(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        found = auth.verify(token, settings.auth_secret)
        if found is not None:
            return found.user_id
        signed_in = await authenticator_of(request.app).authenticate(token)
        if signed_in is None or signed_in.mfa_pending:
            raise ProblemError(
                401,
                "the sign-in token is invalid or expired",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return signed_in.subject

    async def current_user(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> str:
        return await principal(request, authorization)

    def rule(permission: str) -> list[Any]:
        return [Depends(require(permission, admin_token=settings.admin_token))]

    User = Annotated[str, Depends(current_user)]
    # A shopper's own routes: they find the shopper in the token themselves.
    router = APIRouter(
        tags=["notifications"], dependencies=[Depends(public)], responses=PROBLEM_RESPONSES
    )

    @router.get("/preferences/me", response_model=s.Preferences)
    async def my_preferences(user: User) -> s.Preferences:
        """Which channels reach me, and in which language."""
        return await service.preferences(user)

    @router.patch("/preferences/me", response_model=s.Preferences)
    async def change_my_preferences(user: User, data: s.PreferencesIn) -> s.Preferences:
        """Turn channels on or off, set the language; fields not sent stay."""
        return await service.update_preferences(user, data)

    @router.get("/inbox", response_model=list[s.InboxMessage])
    async def my_inbox(
        user: User,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        unread: bool = False,
    ) -> list[s.InboxMessage]:
        """In-app messages, oldest first after ``after`` (a ``seq``)."""
        return await service.inbox(user, after=after, limit=limit, unread_only=unread)

    @router.post("/inbox/{seq}/read", response_model=s.InboxMessage)
    async def read_message(user: User, seq: Annotated[int, Path(ge=1, le=2**62)]) -> s.InboxMessage:
        return await service.mark_read(user, seq)

    @router.get(
        "/inbox/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        access_token: Annotated[str | None, Query(max_length=4096)] = None,
        last_event_id: Annotated[str | None, Header(max_length=20)] = None,
        backlog: Annotated[int, Query(ge=0, le=100)] = 20,
    ) -> StreamingResponse:
        """Server-sent events: each new in-app message as ``event: notification``.

        ``EventSource`` cannot send headers, so the token may come as
        ``?access_token=``. A reconnecting client sends ``Last-Event-ID`` and
        gets what it missed; a new one gets its latest ``backlog`` unread first.
        """
        user = await principal(request, authorization, access_token)
        if last_event_id is not None:
            if not last_event_id.isdigit():
                raise ProblemError(400, "Last-Event-ID must be a message seq (digits)")
            start = int(last_event_id)
        else:
            start = max(0, await service.latest_seq(user) - backlog)
        return StreamingResponse(
            _events(request, service, settings, user, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    admin = APIRouter(prefix="/admin", tags=["notifications admin"], responses=PROBLEM_RESPONSES)

    @admin.get(
        "/templates", response_model=list[s.TemplateOut], dependencies=rule("notifications:read")
    )
    async def list_templates() -> list[s.TemplateOut]:
        """Every notification's wording: the store's own where set, else the default."""
        return await service.templates()

    @admin.get(
        "/templates/{event_type}/{language}",
        response_model=s.TemplateOut,
        dependencies=rule("notifications:read"),
    )
    async def get_template(event_type: EventTypePath, language: LanguagePath) -> s.TemplateOut:
        return await service.template(event_type, language)

    @admin.put(
        "/templates/{event_type}/{language}",
        response_model=s.TemplateOut,
        dependencies=rule("notifications:manage"),
    )
    async def put_template(
        event_type: EventTypePath, language: LanguagePath, data: s.TemplateIn
    ) -> s.TemplateOut:
        """The store's own Jinja2 wording (sandboxed); refused if it fails to render."""
        return await service.put_template(event_type, language, data)

    @admin.delete(
        "/templates/{event_type}/{language}",
        status_code=204,
        dependencies=rule("notifications:manage"),
    )
    async def delete_template(event_type: EventTypePath, language: LanguagePath) -> None:
        """Back to the default wording: the store's own is deleted (404 when there is
        none), and GET of the same path then answers the default (`customized` empty).
        The path names the wording in effect, which always exists."""
        await service.delete_template(event_type, language)

    @admin.get(
        "/templates/{event_type}/{language}/preview",
        response_model=s.Preview,
        dependencies=rule("notifications:read"),
    )
    async def preview(event_type: EventTypePath, language: LanguagePath) -> s.Preview:
        """The message a sample order would get, with the store's branding."""
        return await service.preview(event_type, language)

    @admin.get(
        "/notifications",
        response_model=list[s.NotificationOut],
        dependencies=rule("notifications:read"),
    )
    async def delivery_log(
        event_id: Annotated[str | None, Query(max_length=64)] = None,
        status: Literal["pending", "sent", "failed"] | None = None,
        channel: Literal["email", "sms", "push", "in_app"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[s.NotificationOut]:
        """What was sent to whom, newest first."""
        return await service.log(event_id=event_id, status=status, channel=channel, limit=limit)

    @admin.post(
        "/notifications/{notification_id}/retry",
        response_model=s.NotificationOut,
        dependencies=rule("notifications:manage"),
    )
    async def retry(notification_id: IdPath) -> s.NotificationOut:
        return await service.retry(notification_id)

    @admin.get(
        "/users/{user_id}/preferences",
        response_model=s.Preferences,
        dependencies=rule("notifications:read"),
    )
    async def user_preferences(user_id: UserPath) -> s.Preferences:
        return await service.preferences(user_id)

    @admin.patch(
        "/users/{user_id}/preferences",
        response_model=s.Preferences,
        dependencies=rule("notifications:manage"),
    )
    async def change_user_preferences(user_id: UserPath, data: s.PreferencesIn) -> s.Preferences:
        return await service.update_preferences(user_id, data)

    router.include_router(admin)
    return router


async def _events(
    request: Request,
    service: NotificationService,
    settings: NotificationsSettings,
    user: str,
    after: int,
) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    last_sent = time.monotonic()
    while True:
        messages = await service.inbox(user, after=after, limit=100)
        for message in messages:
            data = json.dumps(message.model_dump(mode="json"), separators=(",", ":"))
            yield f"id: {message.seq}\nevent: notification\ndata: {data}\n\n".encode()
            after = message.seq
            last_sent = time.monotonic()
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= settings.stream_keepalive_seconds:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        # Woken at once by a message this process stored; the poll finds those
        # another replica stored.
        await service.broker.wait(settings.stream_poll_seconds)
        await asyncio.sleep(0)
