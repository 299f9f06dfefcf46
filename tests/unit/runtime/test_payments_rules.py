"""Fraud scoring, card checks and webhook signatures, without a server."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from storefleet.runtime.payments.fraud import FraudRules, FraudSignals, assess
from storefleet.runtime.payments.sandbox import luhn_valid, sign_webhook, verify_webhook
from storefleet.runtime.payments.stripe_gateway import StripeGateway


def signals(**changes: Any) -> FraudSignals:
    base: dict[str, Any] = {
        "amount_minor": 2_000,
        "billing_country": "DE",
        "shipping_country": "DE",
        "recent_payments": 0,
        "recent_declines": 0,
    }
    return FraudSignals(**(base | changes))


def test_an_ordinary_payment_is_allowed() -> None:
    result = assess(signals())
    assert result.decision == "allow"
    assert result.score == 0
    assert result.reasons == []


def test_two_risk_signals_put_it_on_review_and_say_why() -> None:
    result = assess(signals(amount_minor=150_000, billing_country="FR"))
    assert result.decision == "review"
    assert result.score == 55
    assert any("high amount" in reason for reason in result.reasons)
    assert any("FR" in reason for reason in result.reasons)


def test_declines_velocity_and_mismatch_together_block() -> None:
    result = assess(signals(recent_declines=3, recent_payments=5, billing_country="US"))
    assert result.decision == "block"
    assert len(result.reasons) == 3


def test_thresholds_are_configurable() -> None:
    strict = FraudRules(review_at=20)
    assert assess(signals(billing_country="FR"), strict).decision == "review"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("5555555555554444", True),
        ("4000000000000002", True),
        ("4242424242424241", False),
        ("1234", False),
        ("42424242424242x2", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_webhook_signatures_bind_body_secret_and_time() -> None:
    body = b'{"id":"evt_1"}'
    header = sign_webhook(body, "secret", timestamp=1_000_000)
    assert verify_webhook(body, header, "secret", now=1_000_100)
    assert not verify_webhook(body + b" ", header, "secret", now=1_000_100)
    assert not verify_webhook(body, header, "other", now=1_000_100)
    assert not verify_webhook(body, header, "secret", now=1_000_000 + 3_600)
    assert not verify_webhook(body, "t=abc,v1=00", "secret")
    assert not verify_webhook(body, "", "secret")
    assert verify_webhook(body, sign_webhook(body, "secret"), "secret", now=time.time())


class FakeIntent(SimpleNamespace):
    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__["data"])


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("requires_capture", "approved"),
        ("succeeded", "approved"),
        ("requires_action", "requires_action"),
        ("requires_payment_method", "declined"),
        ("canceled", "declined"),
    ],
)
def test_stripe_payment_intent_statuses_map_to_outcomes(status: str, outcome: str) -> None:
    intent = FakeIntent(
        data={
            "id": "pi_1",
            "status": status,
            "amount": 500,
            "next_action": {"redirect_to_url": {"url": "https://bank.example/3ds"}}
            if status == "requires_action"
            else None,
            "last_payment_error": {"decline_code": "insufficient_funds"}
            if outcome == "declined"
            else None,
        }
    )
    result = StripeGateway._intent_result(intent, 500)
    assert result.outcome == outcome
    if outcome == "requires_action":
        assert result.action_url == "https://bank.example/3ds"
    if outcome == "declined":
        assert result.decline_code == "insufficient_funds"
