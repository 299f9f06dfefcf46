"""Where a Store's e-mail goes: ``spec.notifications.smtp`` as the notifications
service's settings (server, port, security, sender), and its user name and
password from the platform team's Secret (``credentialsSecretRef``), which only
the notifications pods read. See spec_integrations.py for how a block is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

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
)
