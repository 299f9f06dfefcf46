"""The payments HTTP API.

Money-moving requests (authorize, capture, void, refund) require an
``Idempotency-Key`` header: a repeat with the same key is answered with the
first result and moves no money.
"""

from __future__ import annotations

import json
import re
import time
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.sandbox import SandboxGateway, verify_webhook
from storefleet.runtime.payments.service import PaymentsService
from storefleet.runtime.payments.settings import PaymentsSettings
from storefleet.runtime.platform.identity.permissions import public, require
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

PaymentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
MethodId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@-]{1,100}$")]
ChargeId = Annotated[str, Path(pattern=r"^ch_[0-9a-f]{1,40}$")]
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,150}$"


def idempotency_key(
    key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    if key is None:
        raise ProblemError(
            400, "this request moves money: send an Idempotency-Key header (8-150 characters)"
        )
    if not re.match(KEY_PATTERN, key):
        raise ProblemError(400, "Idempotency-Key must be 8-150 of A-Z a-z 0-9 _ . : -")
    return key


Key = Annotated[str, Depends(idempotency_key)]


def build_router(service: PaymentsService, settings: PaymentsSettings) -> APIRouter:
    def rule(permission: str) -> list[Any]:
        # The orders service calls with the token this service gave it; store admins may too.
        return [
            Depends(
                require(
                    permission, admin_token=settings.admin_token, callers=settings.caller_tokens
                )
            )
        ]

    router = APIRouter(responses=PROBLEM_RESPONSES)

    @router.post(
        "/tokens",
        response_model=s.TokenOut,
        status_code=201,
        tags=["cards"],
        dependencies=[Depends(public)],
    )
    async def tokenize(body: s.CardIn) -> s.TokenOut:
        """Sandbox only: exchange card details for a token. The number is not kept."""
        return await service.tokenize(body)

    @router.post(
        "/payments",
        response_model=s.PaymentOut,
        status_code=201,
        tags=["payments"],
        dependencies=rule("payments:refund"),
    )
    async def authorize(body: s.AuthorizeIn, key: Key) -> s.PaymentOut:
        """Authorize an amount on a card (token or saved method), after fraud rules.

        ``status`` tells the outcome: authorized, requires_action (send the shopper
        to ``action_url``), or failed (``decline_code``/``failure_reason``)."""
        return await service.authorize(body, key)

    @router.get(
        "/payments/{payment_id}",
        response_model=s.PaymentOut,
        tags=["payments"],
        dependencies=rule("payments:read"),
    )
    async def get_payment(payment_id: PaymentId) -> s.PaymentOut:
        return await service.refresh(payment_id)

    @router.get(
        "/orders/{order_id}/payments",
        response_model=list[s.PaymentOut],
        tags=["payments"],
        dependencies=rule("payments:read"),
    )
    async def order_payments(
        order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
    ) -> list[s.PaymentOut]:
        return await service.for_order(order_id)

    @router.post(
        "/payments/{payment_id}/capture",
        response_model=s.PaymentOut,
        tags=["payments"],
        dependencies=rule("payments:refund"),
    )
    async def capture(payment_id: PaymentId, body: s.CaptureIn, key: Key) -> s.PaymentOut:
        return await service.capture(payment_id, body.amount_minor, key)

    @router.post(
        "/payments/{payment_id}/void",
        response_model=s.PaymentOut,
        tags=["payments"],
        dependencies=rule("payments:refund"),
    )
    async def void(payment_id: PaymentId, key: Key) -> s.PaymentOut:
        return await service.void(payment_id, key)

    @router.post(
        "/payments/{payment_id}/refunds",
        response_model=s.RefundOut,
        status_code=status.HTTP_201_CREATED,
        tags=["payments"],
        dependencies=rule("payments:refund"),
    )
    async def refund(payment_id: PaymentId, body: s.RefundIn, key: Key) -> s.RefundOut:
        return await service.refund(payment_id, body.amount_minor, key, body.reason)

    @router.get(
        "/customers/{customer_id}/payment-methods",
        response_model=list[s.PaymentMethodOut],
        tags=["cards"],
        dependencies=rule("payments:read"),
    )
    async def list_methods(customer_id: CustomerId) -> list[s.PaymentMethodOut]:
        return await service.methods(customer_id)

    @router.post(
        "/customers/{customer_id}/payment-methods",
        response_model=s.PaymentMethodOut,
        status_code=201,
        tags=["cards"],
        dependencies=rule("payments:refund"),
    )
    async def save_method(customer_id: CustomerId, body: s.SavePaymentMethod) -> s.PaymentMethodOut:
        return await service.save_method(customer_id, body.token)

    @router.delete(
        "/customers/{customer_id}/payment-methods/{method_id}",
        status_code=204,
        tags=["cards"],
        dependencies=rule("payments:refund"),
    )
    async def delete_method(customer_id: CustomerId, method_id: MethodId) -> None:
        await service.delete_method(customer_id, method_id)

    @router.post(
        "/subscriptions",
        response_model=s.SubscriptionOut,
        status_code=201,
        tags=["subscriptions"],
        dependencies=rule("payments:refund"),
    )
    async def create_subscription(body: s.SubscriptionIn) -> s.SubscriptionOut:
        return await service.create_subscription(body)

    @router.get(
        "/subscriptions/{subscription_id}",
        response_model=s.SubscriptionOut,
        tags=["subscriptions"],
        dependencies=rule("payments:read"),
    )
    async def get_subscription(subscription_id: PaymentId) -> s.SubscriptionOut:
        return await service.subscription(subscription_id)

    @router.post(
        "/subscriptions/{subscription_id}/cancel",
        response_model=s.SubscriptionOut,
        tags=["subscriptions"],
        dependencies=rule("payments:refund"),
    )
    async def cancel_subscription(subscription_id: PaymentId) -> s.SubscriptionOut:
        return await service.cancel_subscription(subscription_id)

    # ------------------------------------------------------------- webhooks

    @router.post("/webhooks/sandbox", tags=["webhooks"], dependencies=[Depends(public)])
    async def sandbox_webhook(
        request: Request,
        signature: Annotated[str | None, Header(alias="Sandbox-Signature")] = None,
    ) -> dict[str, bool]:
        """Signed events from the sandbox processor (HMAC-SHA256, 5-minute tolerance)."""
        body = await request.body()
        return {"applied": await receive_sandbox(body, signature or "")}

    async def receive_sandbox(body: bytes, signature: str) -> bool:
        if not verify_webhook(body, signature, settings.webhook_secret):
            raise ProblemError(400, "the webhook signature is missing, wrong or too old")
        try:
            event = json.loads(body)
            event_id, kind = str(event["id"]), str(event["type"])
            reference = str(event["data"]["charge"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProblemError(400, "the webhook body is not a sandbox event") from exc
        return await service.apply_webhook(event_id, kind, reference)

    async def deliver_to_self(body: bytes, signature: str) -> None:
        await receive_sandbox(body, signature)

    if isinstance(service.gateway, SandboxGateway):
        # The sandbox "sends" its webhooks straight to our receiver: the same
        # verification and handling as a delivery over HTTP.
        service.gateway.webhook_sink = deliver_to_self

    @router.post("/webhooks/stripe", tags=["webhooks"], dependencies=[Depends(public)])
    async def stripe_webhook(
        request: Request,
        signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
    ) -> dict[str, bool]:
        import stripe

        body = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                body.decode(), signature or "", settings.stripe_webhook_secret
            )
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise ProblemError(400, "the webhook signature is missing, wrong or too old") from exc
        reference = str(getattr(event.data.object, "id", "") or "")
        return {"applied": await service.apply_webhook(event.id, event.type, reference)}

    # --------------------------------------------------- sandbox 3-D Secure

    @router.get(
        "/sandbox/challenge/{charge_id}",
        response_class=HTMLResponse,
        tags=["sandbox"],
        dependencies=[Depends(public)],
    )
    async def challenge_page(charge_id: ChargeId, return_to: str = "") -> HTMLResponse:
        """The sandbox bank's verification page (a real bank's would ask for a code)."""
        safe_return = return_to if return_to.startswith("/") and "//" not in return_to else ""
        return HTMLResponse(
            "<!doctype html><title>Verify your payment</title>"
            "<h1>Sandbox bank: verify this payment</h1>"
            f'<form method="post" action="/api/payments/sandbox/challenge/{charge_id}/form">'
            f'<input type="hidden" name="return_to" value="{escape(safe_return)}">'
            '<button name="approve" value="true">Approve</button> '
            '<button name="approve" value="false">Fail</button></form>'
        )

    @router.post(
        "/sandbox/challenge/{charge_id}/form",
        include_in_schema=False,
        dependencies=[Depends(public)],
    )
    async def challenge_form(charge_id: ChargeId, request: Request) -> RedirectResponse:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        approve = fields.get("approve", ["false"])[-1] == "true"
        return_to = fields.get("return_to", [""])[-1]
        if not isinstance(service.gateway, SandboxGateway):
            raise ProblemError(404, "no sandbox processor here")
        await service.gateway.complete_challenge(charge_id, approve)
        safe = return_to if return_to.startswith("/") and "//" not in return_to else "/"
        return RedirectResponse(safe, status_code=303)

    @router.post("/sandbox/challenge/{charge_id}", tags=["sandbox"], dependencies=[Depends(public)])
    async def complete_challenge(charge_id: ChargeId, body: s.ChallengeIn) -> dict[str, str]:
        if not isinstance(service.gateway, SandboxGateway):
            raise ProblemError(404, "no sandbox processor here")
        return {"status": await service.gateway.complete_challenge(charge_id, body.approve)}

    # ----------------------------------------------------------------- admin

    admin = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)

    @admin.get("/ledger", response_model=s.Ledger, dependencies=rule("payments:read"))
    async def ledger() -> s.Ledger:
        """The processor's totals next to ours, for reconciliation."""
        return await service.ledger()

    @admin.post(
        "/subscriptions/charge-due",
        response_model=s.ChargeRun,
        dependencies=rule("payments:refund"),
    )
    async def charge_due() -> s.ChargeRun:
        """Charge due subscriptions now (the scheduler also does, periodically)."""
        return await service.charge_due()

    @admin.put("/sandbox/faults", response_model=s.FaultsOut, dependencies=rule("payments:refund"))
    async def set_faults(body: s.FaultsIn) -> s.FaultsOut:
        """Make the sandbox processor fail: the next N calls, or all for a while."""
        if not isinstance(service.gateway, SandboxGateway):
            raise ProblemError(404, "no sandbox processor here")
        faults = service.gateway.faults
        faults.fail_next = body.fail_next
        faults.outage_until = time.monotonic() + body.outage_seconds
        return await get_faults()

    @admin.get("/sandbox/faults", response_model=s.FaultsOut, dependencies=rule("payments:read"))
    async def get_faults() -> s.FaultsOut:
        if not isinstance(service.gateway, SandboxGateway):
            raise ProblemError(404, "no sandbox processor here")
        faults = service.gateway.faults
        return s.FaultsOut(
            fail_next=faults.fail_next,
            outage_remaining_seconds=max(0.0, faults.outage_until - time.monotonic()),
            calls=faults.calls,
            failures=faults.failures,
            breaker=service.breaker.state.value,
        )

    combined = APIRouter()
    combined.include_router(router)
    combined.include_router(admin)
    return combined
