"""Signed events from the processors: the sandbox's and Stripe's."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from storefleet.runtime.payments.api.deps import PaymentsDep
from storefleet.runtime.payments.sandbox import SandboxGateway, verify_webhook
from storefleet.runtime.payments.service import PaymentsService
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

router = APIRouter(tags=["webhooks"], responses=PROBLEM_RESPONSES, dependencies=[Depends(public)])


async def receive_sandbox(payments: PaymentsService, body: bytes, signature: str) -> bool:
    """Verify and apply one sandbox event; whether it changed anything."""
    if not verify_webhook(body, signature, payments.settings.webhook_secret):
        raise ProblemError(400, "the webhook signature is missing, wrong or too old")
    try:
        event = json.loads(body)
        event_id, kind = str(event["id"]), str(event["type"])
        reference = str(event["data"]["charge"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ProblemError(400, "the webhook body is not a sandbox event") from exc
    return await payments.apply_webhook(event_id, kind, reference)


def deliver_to(payments: PaymentsService) -> None:
    """Let the sandbox "send" its webhooks straight to our receiver: the same
    verification and handling as a delivery over HTTP."""
    gateway = payments.gateway
    if not isinstance(gateway, SandboxGateway):
        return

    async def sink(body: bytes, signature: str) -> None:
        await receive_sandbox(payments, body, signature)

    gateway.webhook_sink = sink


@router.post("/webhooks/sandbox")
async def sandbox_webhook(
    payments: PaymentsDep,
    request: Request,
    signature: Annotated[str | None, Header(alias="Sandbox-Signature")] = None,
) -> dict[str, bool]:
    """Signed events from the sandbox processor (HMAC-SHA256, 5-minute tolerance)."""
    body = await request.body()
    return {"applied": await receive_sandbox(payments, body, signature or "")}


@router.post("/webhooks/stripe")
async def stripe_webhook(
    payments: PaymentsDep,
    request: Request,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> dict[str, bool]:
    import stripe

    body = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            body.decode(), signature or "", payments.settings.stripe_webhook_secret
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise ProblemError(400, "the webhook signature is missing, wrong or too old") from exc
    reference = str(getattr(event.data.object, "id", "") or "")
    return {"applied": await payments.apply_webhook(event.id, event.type, reference)}
