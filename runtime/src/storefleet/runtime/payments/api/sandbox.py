"""The sandbox processor's 3-D Secure pages: its bank's verification step."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.api.deps import ChargeId, PaymentsDep, sandbox_of
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES, dependencies=[Depends(public)])


def _local(return_to: str) -> str:
    """``return_to`` if it is a path on this site, else empty."""
    return return_to if return_to.startswith("/") and "//" not in return_to else ""


@router.get("/sandbox/challenge/{charge_id}", response_class=HTMLResponse, tags=["sandbox"])
async def challenge_page(charge_id: ChargeId, return_to: str = "") -> HTMLResponse:
    """The sandbox bank's verification page (a real bank's would ask for a code)."""
    return HTMLResponse(
        "<!doctype html><title>Verify your payment</title>"
        "<h1>Sandbox bank: verify this payment</h1>"
        f'<form method="post" action="/api/payments/sandbox/challenge/{charge_id}/form">'
        f'<input type="hidden" name="return_to" value="{escape(_local(return_to))}">'
        '<button name="approve" value="true">Approve</button> '
        '<button name="approve" value="false">Fail</button></form>'
    )


@router.post("/sandbox/challenge/{charge_id}/form", include_in_schema=False)
async def challenge_form(
    payments: PaymentsDep, charge_id: ChargeId, request: Request
) -> RedirectResponse:
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    approve = fields.get("approve", ["false"])[-1] == "true"
    return_to = fields.get("return_to", [""])[-1]
    await sandbox_of(payments).complete_challenge(charge_id, approve)
    return RedirectResponse(_local(return_to) or "/", status_code=303)


@router.post("/sandbox/challenge/{charge_id}", tags=["sandbox"])
async def complete_challenge(
    payments: PaymentsDep, charge_id: ChargeId, body: s.ChallengeIn
) -> dict[str, str]:
    return {"status": await sandbox_of(payments).complete_challenge(charge_id, body.approve)}
