"""Where a Store's messages go, one row per channel, all for the notifications
service: ``spec.notifications.smtp`` (server, port, security, sender; user name
and password from the platform team's Secret, ``credentialsSecretRef``), and
``spec.notifications.sms`` and ``.push``, each a provider's webhook (its URL; the
secret that signs each request from ``secretRef``). Only the notifications pods
read those Secrets. See spec_integrations.py for how a block is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from storefleet.operator.egress import addresses
from storefleet.operator.spec_integrations import SpecIntegration
from storefleet.operator.vocabulary import ConditionType, Reason

SERVICE: Final = "notifications"
CONDITION: Final = ConditionType.NOTIFICATIONS
DEFAULT_PORT: Final = "587"


def _ready(smtp: Mapping[str, Any]) -> tuple[Reason, str]:
    return Reason.SMTP, f"e-mail goes through {smtp['host']}:{smtp.get('port', DEFAULT_PORT)}"


SMTP: Final = SpecIntegration(
    service=SERVICE,
    condition_type=CONDITION,
    path=("notifications", "smtp"),
    settings={
        "host": ("STOREFLEET_NOTIFICATIONS_SMTP_HOST", None),
        "port": ("STOREFLEET_NOTIFICATIONS_SMTP_PORT", DEFAULT_PORT),
        "security": ("STOREFLEET_NOTIFICATIONS_SMTP_SECURITY", "starttls"),
        "from": ("STOREFLEET_NOTIFICATIONS_MAIL_FROM", None),
    },
    secret_ref="credentialsSecretRef",
    credentials={
        "usernameKey": ("STOREFLEET_NOTIFICATIONS_SMTP_USERNAME", "username"),
        "passwordKey": ("STOREFLEET_NOTIFICATIONS_SMTP_PASSWORD", "password"),
    },
    unset_message="spec.notifications.smtp is not set: e-mail is kept as files in the "
    "notifications pod and reaches no one",
    ready=_ready,
    servers=lambda smtp: [(str(smtp["host"]), int(smtp.get("port", DEFAULT_PORT)))],
)


def _webhook(channel: str, env: str, reason: Reason, what: str) -> SpecIntegration:
    def ready(block: Mapping[str, Any]) -> tuple[Reason, str]:
        return reason, f"{what} go to the webhook at {block['url']}"

    return SpecIntegration(
        service=SERVICE,
        condition_type=CONDITION,
        path=("notifications", channel),
        settings={"url": (f"STOREFLEET_NOTIFICATIONS_{env}_WEBHOOK_URL", None)},
        secret_ref="secretRef",
        credentials={
            "signingSecretKey": (f"STOREFLEET_NOTIFICATIONS_{env}_WEBHOOK_SECRET", "signing-secret")
        },
        unset_message=f"spec.notifications.{channel} is not set: no {what} are sent",
        ready=ready,
        servers=lambda block: addresses(str(block["url"])),
    )


SMS: Final = _webhook("sms", "SMS", Reason.SMS_WEBHOOK, "text messages")
PUSH: Final = _webhook("push", "PUSH", Reason.PUSH_WEBHOOK, "push messages")
# E-mail first: its row speaks for the condition when no channel is set.
CHANNELS: Final = (SMTP, SMS, PUSH)
