"""One condition per service from its rows: the notifications service has one row
per channel, and its NotificationsReady must tell a platform team which channel
is broken, or which works, without one row's word hiding another's."""

from __future__ import annotations

from storefleet.operator import notifications
from storefleet.operator.desired import SPEC_INTEGRATIONS
from storefleet.operator.spec_integrations import combine, of_service
from storefleet.operator.status import Condition

TYPE = "NotificationsReady"
UNSET = Condition(TYPE, "Unknown", "NotConfigured", "spec.notifications.smtp is not set")
SMS = Condition(TYPE, "True", "SmsWebhook", "text messages go to the webhook at https://sms")
PUSH = Condition(TYPE, "True", "PushWebhook", "push messages go to the webhook at https://push")
NO_KEY = Condition(TYPE, "False", "SecretKeyMissing", "Secret shop-push has no key hmac")
NO_SECRET = Condition(TYPE, "False", "SecretMissing", "Secret shop-sms is not in namespace")


def test_one_row_is_its_own_condition() -> None:
    assert combine([NO_KEY]) == NO_KEY
    assert combine([UNSET]) == UNSET


def test_a_broken_channel_makes_the_condition_false_whatever_works() -> None:
    combined = combine([UNSET, SMS, NO_KEY, NO_SECRET])
    assert combined.status == "False"
    assert combined.reason == "SecretKeyMissing"
    # Both broken channels are named, the working one is not mistaken for a fault.
    assert combined.message == f"{NO_KEY.message}; {NO_SECRET.message}"


def test_one_usable_channel_makes_it_true_and_every_row_speaks() -> None:
    combined = combine([UNSET, SMS, PUSH])
    assert (combined.status, combined.reason) == ("True", "SmsWebhook")
    assert combined.message == f"{UNSET.message}; {SMS.message}; {PUSH.message}"


def test_nothing_set_is_the_first_rows_word() -> None:
    other = Condition(TYPE, "Unknown", "NotConfigured", "spec.notifications.sms is not set")
    assert combine([UNSET, other]) == UNSET


def test_the_notifications_service_has_one_row_per_channel_e_mail_first() -> None:
    rows = of_service(SPEC_INTEGRATIONS, "notifications")
    assert rows == list(notifications.CHANNELS)
    assert [row.where for row in rows] == [
        "spec.notifications.smtp",
        "spec.notifications.sms",
        "spec.notifications.push",
    ]
