"""The notifications API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from storefleet.runtime.platform.web.schema import Input

if TYPE_CHECKING:
    from storefleet.runtime.notifications.models import InboxItem, Preference

EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
PHONE = r"^\+[1-9][0-9]{6,14}$"
LANGUAGE = r"^[a-z]{2}$"


class PreferencesIn(Input):
    """Only the fields sent change; ``null`` clears an address or the language."""

    email: str | None = Field(default=None, pattern=EMAIL, max_length=320)
    phone: str | None = Field(default=None, pattern=PHONE, description="E.164")
    email_enabled: bool = True
    sms_enabled: bool = False
    push_enabled: bool = False
    in_app_enabled: bool = True
    language: str | None = Field(default=None, pattern=LANGUAGE, description="ISO 639-1")


class Preferences(BaseModel):
    user_id: str
    email: str | None
    phone: str | None
    email_enabled: bool
    sms_enabled: bool
    push_enabled: bool
    in_app_enabled: bool
    language: str

    @classmethod
    def of(cls, user_id: str, row: Preference | None, default_language: str) -> Preferences:
        if row is None:
            return cls(
                user_id=user_id,
                email=None,
                phone=None,
                email_enabled=True,
                sms_enabled=False,
                push_enabled=False,
                in_app_enabled=True,
                language=default_language,
            )
        return cls(
            user_id=user_id,
            email=row.email,
            phone=row.phone,
            email_enabled=row.email_enabled,
            sms_enabled=row.sms_enabled,
            push_enabled=row.push_enabled,
            in_app_enabled=row.in_app_enabled,
            language=row.language or default_language,
        )


class InboxMessage(BaseModel):
    seq: int
    event_id: str
    event_type: str
    title: str
    body: str
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, row: InboxItem) -> InboxMessage:
        return cls(
            seq=row.seq,
            event_id=row.event_id,
            event_type=row.event_type,
            title=row.title,
            body=row.body,
            created_at=row.created_at,
            read=row.read_at is not None,
        )


class TemplateIn(Input):
    """Jinja2; an omitted or null part keeps the default wording."""

    subject: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    short: str | None = Field(default=None, min_length=1, max_length=1000)


class TemplateOut(BaseModel):
    event_type: str
    language: str
    subject: str
    body: str
    short: str
    customized: list[str]


class Preview(BaseModel):
    language: str
    subject: str
    body: str
    short: str
    html: str


class NotificationOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    channel: str
    recipient: str
    user_id: str | None
    language: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
