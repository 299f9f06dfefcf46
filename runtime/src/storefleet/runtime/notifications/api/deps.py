"""What the notifications routes share: the service and its settings, the
signed-in shopper, the path parameters and the permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from storefleet.runtime.notifications import schemas as s
from storefleet.runtime.notifications.service import NotificationService
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import RouteGuards
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import ProblemError

EventTypePath = Annotated[str, Path(pattern=r"^[a-z]+\.[a-z_]+$", max_length=100)]
LanguagePath = Annotated[str, Path(pattern=s.LANGUAGE)]
UserPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@:-]{1,100}$")]
IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]

# Store staff's routes, which the operator's admin token may also call.
guard = RouteGuards("notifications_checks")


def get_notifications(request: Request) -> NotificationService:
    notifications: NotificationService = request.app.state.notifications
    return notifications


def get_settings(request: Request) -> NotificationsSettings:
    settings: NotificationsSettings = request.app.state.settings
    return settings


Notifications = Annotated[NotificationService, Depends(get_notifications)]
Settings = Annotated[NotificationsSettings, Depends(get_settings)]


async def shopper_of(
    request: Request,
    settings: NotificationsSettings,
    authorization: str | None,
    access_token: str | None = None,
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
    request: Request, settings: Settings, authorization: Annotated[str | None, Header()] = None
) -> str:
    return await shopper_of(request, settings, authorization)


User = Annotated[str, Depends(current_user)]
