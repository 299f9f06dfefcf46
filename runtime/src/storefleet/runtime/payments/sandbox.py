"""A card processor's test mode, in-process: the embedded default gateway.

It tokenizes cards (and keeps only brand, last four and a fingerprint), and
answers like a processor in test mode, by card number:

| card number | token | behaviour |
| --- | --- | --- |
| 4242 4242 4242 4242 | `tok_visa` | approved |
| 5555 5555 5555 4444 | `tok_mastercard` | approved |
| 4000 0000 0000 0002 | `tok_chargeDeclined` | declined (`card_declined`) |
| 4000 0000 0000 9995 | `tok_chargeDeclinedInsufficientFunds` | declined (`insufficient_funds`) |
| 4000 0000 0000 3220 | `tok_threeDSecureRequired` | needs 3-D Secure, then approved or failed |
| 4000 0000 0000 0119 | `tok_transientFailure` | first attempt of each request fails transiently |

Any other number that passes the Luhn check is approved. ``faults`` makes the
whole processor fail for the next N calls or for a while (an outage), to
exercise retries and circuit breakers. It keeps its own ledger (what it
authorized, captured and refunded) and answers a repeated idempotency key with
its first answer, as a real processor does. Completed 3-D Secure challenges are
announced by signed webhooks (HMAC-SHA256 over ``timestamp.body``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.payments.gateway import (
    GatewayRejected,
    GatewayResult,
    GatewayUnavailable,
    RefundResult,
)
from storefleet.runtime.payments.models import SandboxCard, SandboxCharge, SandboxRequest
from storefleet.runtime.platform.storage.db import Database

TEST_CARDS: dict[str, tuple[str, str]] = {
    # number -> (behaviour, brand)
    "4242424242424242": ("approve", "visa"),
    "5555555555554444": ("approve", "mastercard"),
    "4000000000000002": ("decline:card_declined", "visa"),
    "4000000000009995": ("decline:insufficient_funds", "visa"),
    "4000000000003220": ("three_ds", "visa"),
    "4000000000000119": ("transient", "visa"),
}
TEST_TOKENS: dict[str, str] = {
    "tok_visa": "4242424242424242",
    "tok_mastercard": "5555555555554444",
    "tok_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_threeDSecureRequired": "4000000000003220",
    "tok_transientFailure": "4000000000000119",
}
SIGNATURE_TOLERANCE_SECONDS = 300


class CardInvalid(ValueError):
    """The card details are not a usable card (a 422 for the shopper)."""


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"


def sign_webhook(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The signature header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify_webhook(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` recently enough (no replays)."""
    if not secret or not header or len(header) > 1000:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        stamp = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


@dataclass
class Faults:
    """Injected processor failures: the next N calls, or every call until a time."""

    fail_next: int = 0
    outage_until: float = 0.0
    calls: int = 0
    failures: int = 0

    def check(self) -> None:
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failures += 1
            raise GatewayUnavailable("sandbox: injected failure")
        if time.monotonic() < self.outage_until:
            self.failures += 1
            raise GatewayUnavailable("sandbox: injected outage")


@dataclass(frozen=True)
class CardToken:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


WebhookSink = Callable[[bytes, str], Awaitable[None]]


class SandboxGateway:
    name = "sandbox"

    def __init__(
        self, db: Database, *, webhook_secret: str, public_url: str = "", fingerprint_key: str = ""
    ) -> None:
        self.db = db
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        # Fingerprints identify a card across tokens (fraud rules count declines
        # per card) without being reversible to its number.
        self._fingerprint_key = (fingerprint_key or webhook_secret or "sandbox").encode()
        self.faults = Faults()
        self.webhook_sink: WebhookSink | None = None

    # -------------------------------------------------------------- tokens

    def _fingerprint(self, number: str) -> str:
        return hmac.new(self._fingerprint_key, number.encode(), hashlib.sha256).hexdigest()

    async def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> CardToken:
        number = "".join(number.split()).replace("-", "")
        if not luhn_valid(number):
            raise CardInvalid("the card number is not valid")
        now = datetime.now(UTC)
        if not 1 <= exp_month <= 12:
            raise CardInvalid("the expiry month must be 1 to 12")
        if (exp_year, exp_month) < (now.year, now.month):
            raise CardInvalid("the card has expired")
        if not (cvc.isdigit() and 3 <= len(cvc) <= 4):
            raise CardInvalid("the security code must be 3 or 4 digits")
        behaviour, brand = TEST_CARDS.get(number, ("approve", brand_of(number)))
        card = CardToken(
            token="tok_" + secrets.token_hex(12),
            brand=brand,
            last4=number[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            fingerprint=self._fingerprint(number),
        )
        async with self.db.write() as session:
            session.add(
                SandboxCard(
                    token=card.token,
                    behaviour=behaviour,
                    brand=card.brand,
                    last4=card.last4,
                    fingerprint=card.fingerprint,
                    exp_month=exp_month,
                    exp_year=exp_year,
                )
            )
        return card

    async def card(self, token: str) -> CardToken:
        if token in TEST_TOKENS:
            number = TEST_TOKENS[token]
            _, brand = TEST_CARDS[number]
            return CardToken(token, brand, number[-4:], 12, 2099, self._fingerprint(number))
        async with self.db.read() as session:
            row = await session.get(SandboxCard, token)
        if row is None:
            raise CardInvalid(f"no such card token '{token}'")
        return CardToken(
            row.token, row.brand, row.last4, row.exp_month, row.exp_year, row.fingerprint
        )

    async def _behaviour(self, token: str) -> str:
        if token in TEST_TOKENS:
            return TEST_CARDS[TEST_TOKENS[token]][0]
        async with self.db.read() as session:
            row = await session.get(SandboxCard, token)
        if row is None:
            raise GatewayRejected(f"no such card token '{token}'", "invalid_token")
        return row.behaviour

    # ------------------------------------------------------- idempotency

    async def _replay(self, key: str, operation: str) -> dict[str, Any] | None:
        async with self.db.read() as session:
            row = await session.get(SandboxRequest, key)
        if row is None or not row.completed:
            return None
        if row.operation != operation:
            raise GatewayRejected(f"idempotency key '{key}' was used for another request")
        return dict(row.response)

    @staticmethod
    def _result(data: dict[str, Any]) -> GatewayResult:
        return GatewayResult(
            outcome=data["outcome"],
            reference=data["reference"],
            amount_minor=int(data["amount_minor"]),
            decline_code=data.get("decline_code", ""),
            message=data.get("message", ""),
            action_url=data.get("action_url", ""),
            card_brand=data.get("card_brand", ""),
            card_last4=data.get("card_last4", ""),
        )

    # ---------------------------------------------------------- payments

    async def authorize(
        self,
        *,
        amount_minor: int,
        currency: str,
        token: str,
        idempotency_key: str,
        description: str = "",
    ) -> GatewayResult:
        self.faults.check()
        replay = await self._replay(idempotency_key, "authorize")
        if replay is not None:
            return self._result(replay)
        if amount_minor <= 0:
            raise GatewayRejected("amount must be positive")
        behaviour = await self._behaviour(token)
        card = await self.card(token)
        try:
            return await self._authorize(
                amount_minor, currency, token, idempotency_key, behaviour, card
            )
        except IntegrityError as exc:
            # The same key at the same moment: the other call's answer is the one;
            # a retry replays it.
            raise GatewayUnavailable("sandbox: concurrent request with this key") from exc

    async def _authorize(
        self,
        amount_minor: int,
        currency: str,
        token: str,
        idempotency_key: str,
        behaviour: str,
        card: CardToken,
    ) -> GatewayResult:
        async with self.db.write() as session:
            request = await session.get(SandboxRequest, idempotency_key)
            if request is None:
                request = SandboxRequest(
                    idempotency_key=idempotency_key,
                    operation="authorize",
                    response={},
                    attempts=0,
                    completed=False,
                )
                session.add(request)
            elif request.completed:
                return self._result(dict(request.response))
            request.attempts += 1
            if behaviour == "transient" and request.attempts == 1:
                # Commit the attempt count, then fail as a flaky network would.
                pass
            else:
                charge_id = "ch_" + uuid.uuid4().hex[:24]
                outcome, decline, status = "approved", "", "authorized"
                action_url = ""
                if behaviour.startswith("decline:"):
                    outcome, decline, status = "declined", behaviour.split(":", 1)[1], "declined"
                elif behaviour == "three_ds":
                    outcome, status = "requires_action", "requires_action"
                    action_url = f"{self.public_url}/sandbox/challenge/{charge_id}"
                session.add(
                    SandboxCharge(
                        id=charge_id,
                        token=token,
                        currency=currency,
                        status=status,
                        authorized_minor=amount_minor,
                        decline_code=decline,
                    )
                )
                request.response = {
                    "outcome": outcome,
                    "reference": charge_id,
                    "amount_minor": amount_minor,
                    "decline_code": decline,
                    "message": "approved" if outcome == "approved" else decline or "3-D Secure",
                    "action_url": action_url,
                    "card_brand": card.brand,
                    "card_last4": card.last4,
                }
                request.completed = True
                return self._result(dict(request.response))
        raise GatewayUnavailable("sandbox: processing error, try again")

    async def _charge(self, reference: str) -> SandboxCharge:
        async with self.db.read() as session:
            charge = await session.get(SandboxCharge, reference)
        if charge is None:
            raise GatewayRejected(f"no such charge '{reference}'", "resource_missing")
        return charge

    async def authorization(self, reference: str) -> GatewayResult:
        self.faults.check()
        charge = await self._charge(reference)
        outcome = {
            "requires_action": "requires_action",
            "declined": "declined",
        }.get(charge.status, "approved")
        return GatewayResult(
            outcome=cast(Any, outcome),
            reference=charge.id,
            amount_minor=charge.authorized_minor,
            decline_code=charge.decline_code,
            action_url=(
                f"{self.public_url}/sandbox/challenge/{charge.id}"
                if charge.status == "requires_action"
                else ""
            ),
        )

    async def capture(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        self.faults.check()
        replay = await self._replay(idempotency_key, "capture")
        if replay is not None:
            return self._result(replay)
        async with self.db.write() as session:
            won = await session.execute(
                update(SandboxCharge)
                .where(
                    SandboxCharge.id == reference,
                    SandboxCharge.status == "authorized",
                    SandboxCharge.authorized_minor >= amount_minor,
                )
                .values(status="captured", captured_minor=amount_minor)
                .returning(SandboxCharge.id)
            )
            if won.scalar_one_or_none() is None:
                charge = await session.get(SandboxCharge, reference)
                if charge is None:
                    raise GatewayRejected(f"no such charge '{reference}'", "resource_missing")
                raise GatewayRejected(
                    f"charge is {charge.status}; cannot capture {amount_minor}", "charge_state"
                )
            response = {"outcome": "approved", "reference": reference, "amount_minor": amount_minor}
            session.add(
                SandboxRequest(
                    idempotency_key=idempotency_key,
                    operation="capture",
                    response=response,
                    attempts=1,
                    completed=True,
                )
            )
        return self._result(response)

    async def void(self, reference: str, *, idempotency_key: str) -> None:
        self.faults.check()
        if await self._replay(idempotency_key, "void") is not None:
            return
        async with self.db.write() as session:
            charge = await session.get(SandboxCharge, reference)
            if charge is None:
                raise GatewayRejected(f"no such charge '{reference}'", "resource_missing")
            if charge.status == "captured":
                raise GatewayRejected("a captured charge is refunded, not voided", "charge_state")
            if charge.status in {"authorized", "requires_action"}:
                charge.status = "voided"
            session.add(
                SandboxRequest(
                    idempotency_key=idempotency_key,
                    operation="void",
                    response={"outcome": "approved", "reference": reference, "amount_minor": 0},
                    attempts=1,
                    completed=True,
                )
            )

    async def refund(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> RefundResult:
        self.faults.check()
        replay = await self._replay(idempotency_key, "refund")
        if replay is not None:
            return RefundResult(replay["reference"], int(replay["amount_minor"]))
        refund_id = "re_" + uuid.uuid4().hex[:24]
        async with self.db.write() as session:
            won = await session.execute(
                update(SandboxCharge)
                .where(
                    SandboxCharge.id == reference,
                    SandboxCharge.status == "captured",
                    SandboxCharge.refunded_minor + amount_minor <= SandboxCharge.captured_minor,
                )
                .values(refunded_minor=SandboxCharge.refunded_minor + amount_minor)
                .returning(SandboxCharge.id)
            )
            if won.scalar_one_or_none() is None:
                raise GatewayRejected(
                    f"cannot refund {amount_minor} of charge '{reference}'", "charge_state"
                )
            session.add(
                SandboxRequest(
                    idempotency_key=idempotency_key,
                    operation="refund",
                    response={
                        "outcome": "approved",
                        "reference": refund_id,
                        "amount_minor": amount_minor,
                    },
                    attempts=1,
                    completed=True,
                )
            )
        return RefundResult(refund_id, amount_minor)

    # ---------------------------------------------------------- 3-D Secure

    async def complete_challenge(self, reference: str, approve: bool) -> str:
        """The shopper passed (or failed) the bank's check; the result is announced
        by a signed webhook, as a processor would. Returns the charge's status."""
        async with self.db.write() as session:
            charge = await session.get(SandboxCharge, reference)
            if charge is None:
                raise GatewayRejected(f"no such charge '{reference}'", "resource_missing")
            if charge.status == "requires_action":
                charge.status = "authorized" if approve else "declined"
                if not approve:
                    charge.decline_code = "authentication_failed"
            status = charge.status
        kind = "charge.authorized" if status == "authorized" else "charge.authentication_failed"
        body = json.dumps(
            {"id": "evt_" + uuid.uuid4().hex[:24], "type": kind, "data": {"charge": reference}},
            separators=(",", ":"),
        ).encode()
        if self.webhook_sink is not None:
            await self.webhook_sink(body, sign_webhook(body, self.webhook_secret))
        return status

    # ---------------------------------------------------------------- ledger

    async def ledger(self) -> dict[str, int]:
        """The processor's own totals, in minor units, for reconciliation."""
        c = SandboxCharge
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(
                        func.coalesce(
                            func.sum(c.authorized_minor).filter(
                                c.status.in_(["authorized", "captured"])
                            ),
                            0,
                        ),
                        func.coalesce(func.sum(c.captured_minor), 0),
                        func.coalesce(func.sum(c.refunded_minor), 0),
                        func.count().filter(c.status == "voided"),
                        func.count().filter(c.status == "captured"),
                        func.count().filter(c.status == "authorized"),
                    )
                )
            ).one()
        return {
            "authorized_minor": int(row[0]),
            "captured_minor": int(row[1]),
            "refunded_minor": int(row[2]),
            "voided": int(row[3]),
            "captured": int(row[4]),
            "open_authorizations": int(row[5]),
        }
