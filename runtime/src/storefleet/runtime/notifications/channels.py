"""How messages leave: SMTP for email, signed webhooks for SMS and push providers.

Each sender raises :class:`TransientFailure` for what may pass (a server
that is down, a 4xx SMTP reply, a provider's 5xx or 429), which the
dispatcher retries with backoff, and :class:`PermanentFailure` for what will
not (a refused address, a provider's 4xx), which it records at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
import httpx

from storefleet.runtime.platform.storage.private_files import private_directory, write_private


class TransientFailure(Exception):
    """Sending failed in a way a later attempt may not."""


class PermanentFailure(Exception):
    """Sending can never succeed (a refused address, a rejected request)."""


@dataclass(frozen=True)
class OutgoingMessage:
    id: str
    channel: str
    recipient: str
    subject: str
    body: str
    html: str | None
    sender_name: str
    event_type: str


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None: ...


def build_email(message: OutgoingMessage, mail_from: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = formataddr((message.sender_name, mail_from))
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=message.id, domain=mail_from.rsplit("@", 1)[-1])
    # Receivers and support can tie a message to the log.
    email["X-Storefleet-Notification"] = message.id
    email["X-Storefleet-Event-Type"] = message.event_type
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        mail_from: str,
        username: str = "",
        password: str = "",
        security: str = "starttls",
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout

    async def send(self, message: OutgoingMessage) -> None:
        email = build_email(message, self.mail_from)
        try:
            await aiosmtplib.send(
                email,
                sender=self.mail_from,
                recipients=[message.recipient],
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientFailure(f"recipient deferred: {exc}") from exc
            raise PermanentFailure(f"recipient refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientFailure(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentFailure(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc


class FileMailSender:
    """No SMTP server configured (a laptop): each message becomes an .eml file."""

    def __init__(self, directory: Path, *, mail_from: str) -> None:
        self.directory = directory
        self.mail_from = mail_from

    async def send(self, message: OutgoingMessage) -> None:
        # Mail carries sign-in and reset links: readable by the service's user only.
        email = build_email(message, self.mail_from).as_bytes()
        await asyncio.to_thread(self._write, f"{message.id}.eml", email)

    def _write(self, name: str, data: bytes) -> None:
        private_directory(self.directory)
        write_private(self.directory / name, data)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``, the header a receiver checks."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, header: str, *, tolerance: float = 300
) -> bool:
    """For receivers (and tests): the signature matches and is recent."""
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), header)


class WebhookSender:
    """An SMS or push provider behind an HTTP webhook, requests signed with HMAC."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def send(self, message: OutgoingMessage) -> None:
        payload: dict[str, Any] = {
            "id": message.id,
            "channel": message.channel,
            "to": message.recipient,
            "title": message.subject,
            "text": message.body,
            "event_type": message.event_type,
            "sender": message.sender_name,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Storefleet-Timestamp": timestamp,
            "X-Storefleet-Signature": signature(self.secret, timestamp, body),
            # The provider may drop a retried request it has already accepted.
            "Idempotency-Key": message.id,
            "X-Request-ID": uuid.uuid4().hex,
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        detail = f"provider answered {response.status_code}: {response.text[:200]}"
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientFailure(detail)
        raise PermanentFailure(detail)

    async def close(self) -> None:
        await self._client.aclose()
