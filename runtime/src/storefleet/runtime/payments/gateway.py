"""What the payments context needs from a card processor, whichever it is.

Every call takes an idempotency key: a retried call (after a timeout, a crash,
a restart) must never charge twice, so the processor answers a repeated key
with the first answer. Amounts are integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["approved", "declined", "requires_action"]


class GatewayUnavailable(Exception):
    """The processor could not be reached or failed transiently: retry the same key."""


class GatewayRejected(Exception):
    """The processor refused the request itself (not a decline): a bug or bad state."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    reference: str  # the processor's id for the authorization (charge, PaymentIntent)
    amount_minor: int
    decline_code: str = ""
    message: str = ""
    action_url: str = ""  # where the shopper completes 3-D Secure, when required
    card_brand: str = ""
    card_last4: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    reference: str
    amount_minor: int


class PaymentGateway(Protocol):
    name: str

    async def authorize(
        self,
        *,
        amount_minor: int,
        currency: str,
        token: str,
        idempotency_key: str,
        description: str = "",
    ) -> GatewayResult: ...

    async def authorization(self, reference: str) -> GatewayResult:
        """The authorization's current state (after 3-D Secure, say)."""
        ...

    async def capture(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayResult: ...

    async def void(self, reference: str, *, idempotency_key: str) -> None: ...

    async def refund(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> RefundResult: ...
