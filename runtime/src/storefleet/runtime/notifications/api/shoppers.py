"""Shoppers' own routes (bearer token): their preferences, their in-app inbox
and its live stream (server-sent events). They find the shopper in the token
themselves."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from storefleet.runtime.notifications import schemas as s
from storefleet.runtime.notifications.api.deps import Notifications, Settings, User, shopper_of
from storefleet.runtime.notifications.service import NotificationService
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.web.errors import ProblemError

router = APIRouter()


@router.get("/preferences/me", response_model=s.Preferences)
async def my_preferences(notifications: Notifications, user: User) -> s.Preferences:
    """Which channels reach me, and in which language."""
    return await notifications.preferences(user)


@router.patch("/preferences/me", response_model=s.Preferences)
async def change_my_preferences(
    notifications: Notifications, user: User, data: s.PreferencesIn
) -> s.Preferences:
    """Turn channels on or off, set the language; fields not sent stay."""
    return await notifications.update_preferences(user, data)


@router.get("/inbox", response_model=list[s.InboxMessage])
async def my_inbox(
    notifications: Notifications,
    user: User,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    unread: bool = False,
) -> list[s.InboxMessage]:
    """In-app messages, oldest first after ``after`` (a ``seq``)."""
    return await notifications.inbox(user, after=after, limit=limit, unread_only=unread)


@router.post("/inbox/{seq}/read", response_model=s.InboxMessage)
async def read_message(
    notifications: Notifications, user: User, seq: Annotated[int, Path(ge=1, le=2**62)]
) -> s.InboxMessage:
    return await notifications.mark_read(user, seq)


@router.get(
    "/inbox/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    notifications: Notifications,
    settings: Settings,
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
    user = await shopper_of(request, settings, authorization, access_token)
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise ProblemError(400, "Last-Event-ID must be a message seq (digits)")
        start = int(last_event_id)
    else:
        start = max(0, await notifications.latest_seq(user) - backlog)
    return StreamingResponse(
        events(request, notifications, settings, user, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def events(
    request: Request,
    notifications: NotificationService,
    settings: NotificationsSettings,
    user: str,
    after: int,
) -> AsyncIterator[bytes]:
    """The stream's body: the shopper's messages after ``after``, as they come,
    with a keep-alive comment when nothing has been sent for a while."""
    yield b"retry: 3000\n\n"
    last_sent = time.monotonic()
    while True:
        messages = await notifications.inbox(user, after=after, limit=100)
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
        await notifications.broker.wait(settings.stream_poll_seconds)
        await asyncio.sleep(0)
