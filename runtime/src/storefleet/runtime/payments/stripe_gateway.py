"""The Stripe adapter, on the official ``stripe`` library (async, over httpx).

An authorization is a PaymentIntent confirmed with ``capture_method=manual``;
capture, void (cancel) and refunds act on it. The idempotency key of each call
is passed as Stripe's ``Idempotency-Key``, so Stripe answers a retried call
with the first answer. Tokens are PaymentMethod ids (``pm_...``) created in the
shopper's browser by Stripe.js: card numbers never reach this service.
"""

from __future__ import annotations

from typing import Any, cast

import stripe

from storefleet.runtime.payments.gateway import (
    GatewayRejected,
    GatewayResult,
    GatewayUnavailable,
    Outcome,
    RefundResult,
)

_OUTCOMES: dict[str, Outcome] = {
    "requires_capture": "approved",
    "succeeded": "approved",
    "processing": "approved",
    "requires_action": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_payment_method": "declined",
    "canceled": "declined",
}


def _already_canceled(exc: stripe.StripeError) -> bool:
    """Stripe's refusal to cancel a PaymentIntent that is canceled already."""
    error = exc.error
    if error is None or error.code != "payment_intent_unexpected_state":
        return False
    intent = error.payment_intent
    return intent is not None and getattr(intent, "status", None) == "canceled"


class StripeGateway:
    name = "stripe"

    def __init__(
        self, api_key: str, *, api_base: str = "", timeout: float = 10.0, return_url: str = ""
    ) -> None:
        addresses: dict[str, str] = {"api": api_base} if api_base else {}
        self.return_url = return_url
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=cast(Any, addresses),
            http_client=stripe.HTTPXClient(timeout=timeout),
            # Retries are ours (same idempotency key, with the breaker watching).
            max_network_retries=0,
        )

    @staticmethod
    def _translate(exc: stripe.StripeError) -> Exception:
        if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
            return GatewayUnavailable(f"stripe: {type(exc).__name__}")
        status = exc.http_status or 0
        if isinstance(exc, stripe.APIError) or status >= 500:
            return GatewayUnavailable(f"stripe: HTTP {status}")
        if isinstance(exc, stripe.IdempotencyError):
            return GatewayRejected(str(exc.user_message or exc), "idempotency_conflict")
        return GatewayRejected(str(exc.user_message or exc), exc.code or "invalid_request")

    @staticmethod
    def _intent_result(resource: Any, amount_minor: int) -> GatewayResult:
        intent: dict[str, Any] = resource.to_dict()
        status = str(intent.get("status") or "")
        outcome = _OUTCOMES.get(status, "declined")
        action_url = ""
        next_action = intent.get("next_action") or {}
        redirect = next_action.get("redirect_to_url") if next_action else None
        if redirect:
            action_url = str(redirect.get("url") or "")
        error = intent.get("last_payment_error") or {}
        response = getattr(resource, "last_response", None)
        echoed = response.headers.get("Idempotency-Key", "") if response is not None else ""
        return GatewayResult(
            outcome=outcome,
            reference=str(intent["id"]),
            amount_minor=int(intent.get("amount") or amount_minor),
            decline_code=str(error.get("decline_code") or error.get("code") or "")
            if outcome == "declined"
            else "",
            message=status,
            action_url=action_url,
            extra={"idempotency_key": str(echoed)} if echoed else {},
        )

    async def authorize(
        self,
        *,
        amount_minor: int,
        currency: str,
        token: str,
        idempotency_key: str,
        description: str = "",
    ) -> GatewayResult:
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "payment_method": token,
            "capture_method": "manual",
            "confirm": True,
            "description": description,
            "payment_method_types": ["card"],
        }
        if self.return_url:
            params["return_url"] = self.return_url
        try:
            intent = await self.client.v1.payment_intents.create_async(
                cast(Any, params), {"idempotency_key": idempotency_key}
            )
        except stripe.CardError as exc:
            error = exc.error
            reference = ""
            if error is not None and error.payment_intent is not None:
                reference = str(getattr(error.payment_intent, "id", "") or "")
            return GatewayResult(
                outcome="declined",
                reference=reference,
                amount_minor=amount_minor,
                decline_code=str((error.decline_code if error else None) or exc.code or ""),
                message=str(exc.user_message or "card declined"),
            )
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return self._intent_result(intent, amount_minor)

    async def authorization(self, reference: str) -> GatewayResult:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(reference)
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return self._intent_result(intent, 0)

    async def capture(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        try:
            intent = await self.client.v1.payment_intents.capture_async(
                reference,
                {"amount_to_capture": amount_minor},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return self._intent_result(intent, amount_minor)

    async def void(self, reference: str, *, idempotency_key: str) -> None:
        try:
            await self.client.v1.payment_intents.cancel_async(
                reference, {}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            if _already_canceled(exc):
                # Stripe cancels an uncaptured PaymentIntent itself after seven
                # days (or a retry after a lost answer cancelled it): voided.
                return
            raise self._translate(exc) from exc

    async def refund(
        self, reference: str, *, amount_minor: int, idempotency_key: str
    ) -> RefundResult:
        try:
            refund = await self.client.v1.refunds.create_async(
                {"payment_intent": reference, "amount": amount_minor},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return RefundResult(str(refund.id), int(refund.amount or amount_minor))
