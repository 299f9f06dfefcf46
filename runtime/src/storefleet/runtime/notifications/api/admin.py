"""Store staff (``/admin``): templates, previews, the delivery log, a shopper's
preferences, resending a failed message."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from storefleet.runtime.notifications import schemas as s
from storefleet.runtime.notifications.api.deps import (
    EventTypePath,
    IdPath,
    LanguagePath,
    Notifications,
    UserPath,
    guard,
)
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/admin", tags=["notifications admin"], responses=PROBLEM_RESPONSES)
READ = [Depends(guard("notifications:read"))]
MANAGE = [Depends(guard("notifications:manage"))]


@router.get("/templates", response_model=list[s.TemplateOut], dependencies=READ)
async def list_templates(notifications: Notifications) -> list[s.TemplateOut]:
    """Every notification's wording: the store's own where set, else the default."""
    return await notifications.templates()


@router.get("/templates/{event_type}/{language}", response_model=s.TemplateOut, dependencies=READ)
async def get_template(
    notifications: Notifications, event_type: EventTypePath, language: LanguagePath
) -> s.TemplateOut:
    return await notifications.template(event_type, language)


@router.put("/templates/{event_type}/{language}", response_model=s.TemplateOut, dependencies=MANAGE)
async def put_template(
    notifications: Notifications,
    event_type: EventTypePath,
    language: LanguagePath,
    data: s.TemplateIn,
) -> s.TemplateOut:
    """The store's own Jinja2 wording (sandboxed); refused if it fails to render."""
    return await notifications.put_template(event_type, language, data)


@router.delete("/templates/{event_type}/{language}", status_code=204, dependencies=MANAGE)
async def delete_template(
    notifications: Notifications, event_type: EventTypePath, language: LanguagePath
) -> None:
    """Back to the default wording: the store's own is deleted (404 when there is
    none), and GET of the same path then answers the default (`customized` empty).
    The path names the wording in effect, which always exists."""
    await notifications.delete_template(event_type, language)


@router.get(
    "/templates/{event_type}/{language}/preview", response_model=s.Preview, dependencies=READ
)
async def preview(
    notifications: Notifications, event_type: EventTypePath, language: LanguagePath
) -> s.Preview:
    """The message a sample order would get, with the store's branding."""
    return await notifications.preview(event_type, language)


@router.get("/notifications", response_model=list[s.NotificationOut], dependencies=READ)
async def delivery_log(
    notifications: Notifications,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["pending", "sent", "failed"] | None = None,
    channel: Literal["email", "sms", "push", "in_app"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[s.NotificationOut]:
    """What was sent to whom, newest first."""
    return await notifications.log(event_id=event_id, status=status, channel=channel, limit=limit)


@router.post(
    "/notifications/{notification_id}/retry", response_model=s.NotificationOut, dependencies=MANAGE
)
async def retry(notifications: Notifications, notification_id: IdPath) -> s.NotificationOut:
    return await notifications.retry(notification_id)


@router.get("/users/{user_id}/preferences", response_model=s.Preferences, dependencies=READ)
async def user_preferences(notifications: Notifications, user_id: UserPath) -> s.Preferences:
    return await notifications.preferences(user_id)


@router.patch("/users/{user_id}/preferences", response_model=s.Preferences, dependencies=MANAGE)
async def change_user_preferences(
    notifications: Notifications, user_id: UserPath, data: s.PreferencesIn
) -> s.Preferences:
    return await notifications.update_preferences(user_id, data)
