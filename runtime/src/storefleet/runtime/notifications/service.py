"""Turning events into notifications, and sending them.

An event is handled once (the consumer's processed-event row commits with
everything below): the shopper's preferences pick the channels and the
language, the store's templates the wording, and one log row per channel and
recipient is written as ``pending`` (in-app messages go straight into the
shopper's inbox). The dispatcher then sends pending rows: it claims a batch
with a lease, sends outside any transaction, and records the outcome; a
transient failure (a mail server that is down) is retried with exponential
backoff up to ``max_send_attempts``. A process that dies between sending and
recording sends that message again when the lease runs out: email is at least
once, never silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import and_, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.notifications import schemas as s
from storefleet.runtime.notifications.channels import (
    OutgoingMessage,
    PermanentFailure,
    Sender,
    TransientFailure,
)
from storefleet.runtime.notifications.models import (
    InboxItem,
    Notification,
    Preference,
    Template,
    outbox,
)
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.notifications.templates import (
    DEFAULTS,
    PARTS,
    Rendered,
    TemplateProblem,
    check_template,
    render,
)
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.consumer import PermanentError, backoff_delay
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry.tracing import parent_context, trace_context, tracer
from storefleet.runtime.platform.web.errors import NotFound, ProblemError

log = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(seconds=120)
SUPPORTED_DATA_VERSION = 1


class InboxBroker:
    """Wakes this process's open in-app streams when a message is stored."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)


@dataclass(frozen=True)
class Recipient:
    user_id: str | None
    email: str | None
    language: str
    preference: Preference | None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _after_commit(session: AsyncSession, callback: Any) -> None:
    sa_event.listen(session.sync_session, "after_commit", lambda _: callback(), once=True)


class NotificationService:
    def __init__(
        self,
        db: Database,
        settings: NotificationsSettings,
        store: StoreSettings,
        senders: dict[str, Sender],
        relay: OutboxRelay | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.store = store
        self.senders = senders
        self.relay = relay
        self.broker = InboxBroker()
        self._dispatch_wakeup = asyncio.Event()

    @staticmethod
    def event_types() -> list[str]:
        return sorted(DEFAULTS)

    # -- events -> notifications ------------------------------------------

    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        if self.db.is_postgres:
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def _recipient(self, session: AsyncSession, data: dict[str, Any]) -> Recipient:
        user_id = _str(data.get("customer_id")) or _str(data.get("user_id"))
        preference = await session.get(Preference, user_id) if user_id else None
        language = (
            (preference.language if preference else None)
            or _str(data.get("language"))
            or self.store.locale
            or "en"
        )
        email = (preference.email if preference else None) or _str(
            data.get("email") or data.get("customer_email")
        )
        return Recipient(user_id, email, language.split("-")[0].lower(), preference)

    async def _render(self, session: AsyncSession, event: Event, language: str) -> Rendered:
        rows = (
            await session.scalars(
                select(Template).where(
                    Template.event_type == event.type, Template.language.in_([language, "en"])
                )
            )
        ).all()
        by_language = {row.language: row for row in rows}
        chosen = by_language.get(language) or (
            by_language.get("en") if language not in DEFAULTS.get(event.type, {}) else None
        )
        if chosen is not None:
            overrides = {part: getattr(chosen, part) for part in PARTS}
            try:
                return render(event.type, event.payload, self.store, chosen.language, overrides)
            except TemplateProblem as exc:
                # The store's template broke on this event's data: the default
                # wording still tells the shopper what happened.
                log.warning(
                    "store template failed; using the default",
                    extra={"event_type": event.type, "error": str(exc)},
                )
        return render(event.type, event.payload, self.store, language)

    async def handle_event(self, event: Event, session: AsyncSession) -> None:
        """The consumer's handler: runs in the processed-event transaction."""
        if event.type not in DEFAULTS:
            return
        if event.version > SUPPORTED_DATA_VERSION:
            # A payload shape this code does not know: refuse it (dead letter)
            # rather than tell a shopper something wrong.
            raise PermanentError(f"{event.type} dataversion {event.version} is not supported")
        recipient = await self._recipient(session, event.payload)
        rendered = await self._render(session, event, recipient.language)
        pref = recipient.preference
        now = utcnow()
        traceparent, tracestate = trace_context()
        rows: list[dict[str, Any]] = []

        def add(channel: str, address: str, subject: str, body: str, html: str | None) -> None:
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "event_id": event.id,
                    "event_type": event.type,
                    "channel": channel,
                    "recipient": address,
                    "user_id": recipient.user_id,
                    "language": rendered.language,
                    "subject": subject,
                    "body": body,
                    "html": html,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "traceparent": traceparent,
                    "tracestate": tracestate,
                }
            )

        if recipient.email and (pref.email_enabled if pref else True):
            add("email", recipient.email, rendered.subject, rendered.body, rendered.html)
        if pref and pref.sms_enabled and pref.phone:
            add("sms", pref.phone, rendered.subject, rendered.short, None)
        if pref and pref.push_enabled and recipient.user_id:
            add("push", recipient.user_id, rendered.subject, rendered.short, None)
        in_app = recipient.user_id is not None and (pref.in_app_enabled if pref else True)
        if in_app and recipient.user_id:
            await session.execute(
                self._insert(InboxItem)
                .values(
                    user_id=recipient.user_id,
                    event_id=event.id,
                    event_type=event.type,
                    title=rendered.subject,
                    body=rendered.short,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["event_id", "user_id"])
            )
            add("in_app", recipient.user_id, rendered.subject, rendered.short, None)
            rows[-1].update(status="sent", attempts=1, sent_at=now)
            _after_commit(session, self.broker.notify)
        if rows:
            await session.execute(
                self._insert(Notification)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["event_id", "channel", "recipient"])
            )
            _after_commit(session, self._dispatch_wakeup.set)

    # -- sending ------------------------------------------------------------

    async def _claim(self) -> list[Notification]:
        now = utcnow()
        async with self.db.write() as session:
            query = (
                select(Notification)
                .where(Notification.status == "pending", Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at)
                .limit(20)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            if rows:
                # The lease: another dispatcher leaves these alone until it ends.
                await session.execute(
                    update(Notification)
                    .where(Notification.id.in_([row.id for row in rows]))
                    .values(next_attempt_at=now + CLAIM_LEASE)
                )
        return rows

    async def dispatch_once(self) -> int:
        """Send one batch of due messages; returns how many were attempted."""
        rows = await self._claim()
        for row in rows:
            await self._send(row)
        return len(rows)

    async def _send(self, row: Notification) -> None:
        with tracer().start_as_current_span(
            f"send {row.channel}",
            context=parent_context(row.traceparent, row.tracestate),
            kind=SpanKind.CLIENT,
            attributes={
                "storefleet.notification_id": row.id,
                "storefleet.channel": row.channel,
                "cloudevents.event_type": row.event_type,
                "storefleet.attempt": row.attempts + 1,
            },
        ) as span:
            error = await self._deliver(row)
            if error is not None:
                span.set_status(StatusCode.ERROR, error)

    async def _deliver(self, row: Notification) -> str | None:
        """One attempt at sending; records the outcome and returns the error, if any."""
        sender = self.senders.get(row.channel)
        error: str | None = None
        permanent = False
        if sender is None:
            error, permanent = f"no {row.channel} provider is configured", True
        else:
            message = OutgoingMessage(
                id=row.id,
                channel=row.channel,
                recipient=row.recipient,
                subject=row.subject,
                body=row.body,
                html=row.html,
                sender_name=self.store.name,
                event_type=row.event_type,
            )
            try:
                await sender.send(message)
            except PermanentFailure as exc:
                error, permanent = str(exc), True
            except TransientFailure as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("sending a notification failed unexpectedly")
                error = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts + 1
        now = utcnow()
        async with self.db.write() as session:
            values: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if error is None:
                values.update(status="sent", sent_at=now)
            elif permanent or attempts >= self.settings.max_send_attempts:
                values.update(status="failed")
            else:
                delay = backoff_delay(
                    attempts,
                    self.settings.send_backoff_seconds,
                    self.settings.send_backoff_max_seconds,
                )
                values.update(next_attempt_at=now + timedelta(seconds=delay))
            await session.execute(
                update(Notification).where(Notification.id == row.id).values(**values)
            )
            if values.get("status") in ("sent", "failed"):
                await enqueue(
                    session,
                    outbox,
                    Event(
                        f"notification.{values['status']}",
                        {
                            "notification_id": row.id,
                            "event_id": row.event_id,
                            "event_type": row.event_type,
                            "channel": row.channel,
                            "user_id": row.user_id,
                            "attempts": attempts,
                        },
                        source="notifications",
                        key=row.event_id,
                    ),
                )
        if error is not None:
            log.warning(
                "notification not sent",
                extra={"notification_id": row.id, "channel": row.channel, "error": error},
            )
        if self.relay is not None and values.get("status"):
            self.relay.wake()
        return error

    async def dispatch_forever(self) -> None:
        while True:
            try:
                while await self.dispatch_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification dispatch pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._dispatch_wakeup.wait(), timeout=self.settings.dispatch_poll_seconds
                )
            self._dispatch_wakeup.clear()

    # -- preferences ------------------------------------------------------

    async def preferences(self, user_id: str) -> s.Preferences:
        async with self.db.read() as session:
            row = await session.get(Preference, user_id)
        return s.Preferences.of(user_id, row, self.store.locale)

    async def update_preferences(self, user_id: str, data: s.PreferencesIn) -> s.Preferences:
        changes = data.model_dump(exclude_unset=True)
        async with self.db.write() as session:
            row = await session.get(Preference, user_id)
            if row is None:
                row = Preference(
                    user_id=user_id,
                    email_enabled=True,
                    sms_enabled=False,
                    push_enabled=False,
                    in_app_enabled=True,
                )
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            if row.sms_enabled and not row.phone:
                raise ProblemError(422, "sms needs a phone number (E.164, e.g. +4915112345678)")
            row.updated_at = utcnow()
        return s.Preferences.of(user_id, row, self.store.locale)

    # -- inbox ------------------------------------------------------------

    async def inbox(
        self, user_id: str, *, after: int = 0, limit: int = 50, unread_only: bool = False
    ) -> list[s.InboxMessage]:
        async with self.db.read() as session:
            query = (
                select(InboxItem)
                .where(InboxItem.user_id == user_id, InboxItem.seq > after)
                .order_by(InboxItem.seq)
                .limit(limit)
            )
            if unread_only:
                query = query.where(InboxItem.read_at.is_(None))
            rows = (await session.scalars(query)).all()
        return [s.InboxMessage.of(row) for row in rows]

    async def latest_seq(self, user_id: str) -> int:
        async with self.db.read() as session:
            value = await session.scalar(
                select(func.max(InboxItem.seq)).where(InboxItem.user_id == user_id)
            )
        return int(value or 0)

    async def mark_read(self, user_id: str, seq: int) -> s.InboxMessage:
        async with self.db.write() as session:
            row = await session.get(InboxItem, seq)
            if row is None or row.user_id != user_id:
                raise NotFound(f"no message {seq}")
            if row.read_at is None:
                row.read_at = utcnow()
        return s.InboxMessage.of(row)

    # -- templates --------------------------------------------------------

    async def templates(self) -> list[s.TemplateOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(select(Template))).all()
        stored = {(row.event_type, row.language): row for row in rows}
        keys = {(t, lang) for t, langs in DEFAULTS.items() for lang in langs} | set(stored)
        return [
            self._template_out(event_type, language, stored.get((event_type, language)))
            for event_type, language in sorted(keys)
        ]

    def _template_out(self, event_type: str, language: str, row: Template | None) -> s.TemplateOut:
        base = DEFAULTS[event_type].get(language) or DEFAULTS[event_type]["en"]
        parts = {part: (getattr(row, part) if row else None) or base[part] for part in PARTS}
        custom = [part for part in PARTS if row is not None and getattr(row, part)]
        return s.TemplateOut(event_type=event_type, language=language, customized=custom, **parts)

    async def template(self, event_type: str, language: str) -> s.TemplateOut:
        self._known(event_type)
        async with self.db.read() as session:
            row = await session.get(Template, (event_type, language))
        return self._template_out(event_type, language, row)

    @staticmethod
    def _known(event_type: str) -> None:
        if event_type not in DEFAULTS:
            raise NotFound(
                f"no notification for {event_type!r}; known: {', '.join(sorted(DEFAULTS))}"
            )

    async def put_template(
        self, event_type: str, language: str, data: s.TemplateIn
    ) -> s.TemplateOut:
        self._known(event_type)
        parts = data.model_dump()
        for part, source in parts.items():
            if source is not None:
                try:
                    check_template(source)
                except TemplateProblem as exc:
                    raise ProblemError(422, f"{part}: {exc}", field=part) from None
        # Render it once against a sample, so a template that fails on real
        # data (an unknown filter, a wrong type) is refused now, not at 3 a.m.
        try:
            render(event_type, SAMPLE_ORDER, self.store, language, parts)
        except TemplateProblem as exc:
            raise ProblemError(422, f"the template does not render: {exc}") from None
        async with self.db.write() as session:
            row = await session.get(Template, (event_type, language))
            if row is None:
                row = Template(event_type=event_type, language=language)
                session.add(row)
            row.subject, row.body, row.short = parts["subject"], parts["body"], parts["short"]
            row.updated_at = utcnow()
        return self._template_out(event_type, language, row)

    async def delete_template(self, event_type: str, language: str) -> None:
        self._known(event_type)
        async with self.db.write() as session:
            row = await session.get(Template, (event_type, language))
            if row is None:
                raise NotFound(f"the store has no own {language} template for {event_type}")
            await session.delete(row)

    async def preview(self, event_type: str, language: str) -> s.Preview:
        self._known(event_type)
        async with self.db.read() as session:
            row = await session.get(Template, (event_type, language))
        overrides = {part: getattr(row, part) for part in PARTS} if row else None
        out = render(event_type, SAMPLE_ORDER, self.store, language, overrides)
        return s.Preview(
            subject=out.subject, body=out.body, short=out.short, html=out.html, language=language
        )

    # -- the log ----------------------------------------------------------

    async def log(
        self,
        *,
        event_id: str | None,
        status: str | None,
        channel: str | None,
        limit: int,
    ) -> list[s.NotificationOut]:
        async with self.db.read() as session:
            query = select(Notification).order_by(Notification.created_at.desc()).limit(limit)
            conditions = [
                condition
                for condition in (
                    Notification.event_id == event_id if event_id else None,
                    Notification.status == status if status else None,
                    Notification.channel == channel if channel else None,
                )
                if condition is not None
            ]
            if conditions:
                query = query.where(and_(*conditions))
            rows: Sequence[Notification] = (await session.scalars(query)).all()
        return [s.NotificationOut.model_validate(row, from_attributes=True) for row in rows]

    async def retry(self, notification_id: str) -> s.NotificationOut:
        """Send a failed message again (an operator fixed the mail server)."""
        async with self.db.write() as session:
            row = await session.get(Notification, notification_id)
            if row is None:
                raise NotFound(f"no notification {notification_id!r}")
            if row.status != "failed":
                raise ProblemError(409, f"the notification is {row.status}, not failed")
            row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
        self._dispatch_wakeup.set()
        return s.NotificationOut.model_validate(row, from_attributes=True)

    async def pending_count(self) -> int:
        async with self.db.read() as session:
            value = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status == "pending")
            )
        return int(value or 0)


SAMPLE_ORDER: dict[str, Any] = {
    "order_id": "ord_sample",
    "order_number": "1001",
    "customer_id": "user-sample",
    "email": "shopper@example.com",
    "currency": "EUR",
    "total_minor": 4990,
    "refund_minor": 1990,
    "amount_minor": 4990,
    "carrier": "DHL",
    "tracking_number": "00340434161234567890",
    "reason": "requested by the customer",
    "lines": [
        {"sku": "TEE-M", "name": "T-shirt", "quantity": 2, "unit_price_minor": 1500},
        {"sku": "CAP", "name": "Cap", "quantity": 1, "unit_price_minor": 1990},
    ],
}
