"""How a Store takes money: ``spec.payments`` as the payments service's settings.
The sandbox gateway needs nothing and moves no real money; Stripe takes its API
key and webhook signing secret from the platform team's Secret (``secretRef``),
which only the payments pods read. See spec_integrations.py for how a block is
served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from storefleet.operator.egress import addresses
from storefleet.operator.spec_integrations import SpecIntegration
from storefleet.operator.vocabulary import ConditionType, Reason

SERVICE: Final = "payments"
CONDITION: Final = ConditionType.PAYMENTS
SANDBOX: Final = "sandbox"
STRIPE_API: Final = "https://api.stripe.com"


def _real(payments: Mapping[str, Any]) -> bool:
    return bool(payments.get("gateway", SANDBOX) != SANDBOX)


def _servers(payments: Mapping[str, Any]) -> list[tuple[str, int]]:
    # The sandbox runs inside the payments service: it calls out to no one.
    return addresses(payments.get("apiBase") or STRIPE_API) if _real(payments) else []


def _ready(payments: Mapping[str, Any]) -> tuple[Reason, str]:
    if not _real(payments):
        return Reason.SANDBOX, "payments go to the sandbox gateway: no real money moves"
    where = payments.get("apiBase") or "api.stripe.com"
    return Reason.STRIPE, f"payments go to Stripe ({where})"


GATEWAY: Final = SpecIntegration(
    service=SERVICE,
    condition_type=CONDITION,
    path=("payments",),
    settings={
        "gateway": ("STOREFLEET_PAYMENTS_GATEWAY", SANDBOX),
        "apiBase": ("STOREFLEET_PAYMENTS_STRIPE_API_BASE", None),
    },
    secret_ref="secretRef",
    credentials={
        "apiKeyKey": ("STOREFLEET_PAYMENTS_STRIPE_API_KEY", "api-key"),
        "webhookSecretKey": ("STOREFLEET_PAYMENTS_STRIPE_WEBHOOK_SECRET", "webhook-secret"),
    },
    unset_message="spec.payments is not set: the sandbox gateway takes payments and no "
    "real money moves",
    ready=_ready,
    needs_secret=_real,
    servers=_servers,
)
