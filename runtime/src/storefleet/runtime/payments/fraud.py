"""Rule-based fraud scoring: a few explainable rules, each adding points.

The total decides: ``allow`` below the review threshold, ``review`` (the
payment is authorized but its order is held for a person to look at) from it,
``block`` (no authorization is attempted) from the block threshold. Every rule
that fired is named in ``reasons``, so a reviewer sees why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Decision = Literal["allow", "review", "block"]


@dataclass(frozen=True)
class FraudRules:
    high_amount_minor: int = 100_000
    high_amount_points: int = 30
    velocity_window_minutes: int = 60
    velocity_limit: int = 3  # payments by one customer/email within the window
    velocity_points: int = 25
    country_mismatch_points: int = 25
    decline_window_minutes: int = 60
    decline_limit: int = 3  # declines for one customer/email/card within the window
    decline_points: int = 40
    review_at: int = 50
    block_at: int = 90


@dataclass(frozen=True)
class FraudSignals:
    amount_minor: int
    billing_country: str
    shipping_country: str
    recent_payments: int  # by the same customer or e-mail, in the velocity window
    recent_declines: int  # for the same customer, e-mail or card, in the decline window


@dataclass(frozen=True)
class Assessment:
    score: int
    decision: Decision
    reasons: list[str] = field(default_factory=list)


def assess(signals: FraudSignals, rules: FraudRules | None = None) -> Assessment:
    rules = rules or FraudRules()
    score = 0
    reasons: list[str] = []
    if signals.amount_minor >= rules.high_amount_minor:
        score += rules.high_amount_points
        reasons.append(f"high amount ({signals.amount_minor} >= {rules.high_amount_minor})")
    if signals.recent_payments >= rules.velocity_limit:
        score += rules.velocity_points
        reasons.append(
            f"velocity ({signals.recent_payments} payments in {rules.velocity_window_minutes} min)"
        )
    if (
        signals.billing_country
        and signals.shipping_country
        and signals.billing_country != signals.shipping_country
    ):
        score += rules.country_mismatch_points
        reasons.append(
            f"billing country {signals.billing_country} differs from "
            f"shipping country {signals.shipping_country}"
        )
    if signals.recent_declines >= rules.decline_limit:
        score += rules.decline_points
        reasons.append(f"{signals.recent_declines} declines in {rules.decline_window_minutes} min")
    decision: Decision = "allow"
    if score >= rules.block_at:
        decision = "block"
    elif score >= rules.review_at:
        decision = "review"
    return Assessment(score=score, decision=decision, reasons=reasons)
