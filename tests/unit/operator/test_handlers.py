"""The Kopf handlers, called as Kopf calls them: module-level functions that find
the operator's state in the memo. No cluster: a reconciler that fails as told."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from storefleet.operator import handlers
from storefleet.operator.errors import ReconcileError
from storefleet.operator.memo import RETRY_SECONDS, new_memo, state_of
from storefleet.operator.settings import OperatorSettings

BODY: Mapping[str, Any] = {"metadata": {"name": "acme"}}


class Failing:
    """Stands in for the Reconciler: records the trigger, then raises ``error``."""

    def __init__(self, error: ReconcileError | None) -> None:
        self.error = error
        self.triggers: list[str] = []

    async def reconcile(self, body: Mapping[str, Any], trigger: str) -> None:
        self.triggers.append(trigger)
        if self.error is not None:
            raise self.error


def memo_with(reconciler: Failing, **settings: Any) -> kopf.Memo:
    memo = new_memo(OperatorSettings(**settings))
    state_of(memo).reconciler = reconciler  # type: ignore[assignment]
    return memo


async def test_each_cause_reaches_the_reconcile_with_its_name() -> None:
    reconciler = Failing(None)
    memo = memo_with(reconciler)
    for reason in (kopf.Reason.CREATE, kopf.Reason.UPDATE, kopf.Reason.RESUME):
        await handlers.store_changed(body=BODY, reason=reason, retry=0, memo=memo)
    await handlers.store_drift(body=BODY, memo=memo)
    assert reconciler.triggers == ["create", "update", "resume", "timer"]


async def test_a_store_being_deleted_or_an_operator_stopping_reconciles_nothing() -> None:
    reconciler = Failing(None)
    memo = memo_with(reconciler)
    going = {"metadata": {"name": "acme", "deletionTimestamp": "2026-12-01T00:00:00Z"}}
    await handlers.store_changed(body=going, reason="update", retry=0, memo=memo)
    state_of(memo).stopping = True
    await handlers.store_drift(body=BODY, memo=memo)
    assert reconciler.triggers == []


async def test_an_operator_still_starting_asks_kopf_to_come_back() -> None:
    memo = new_memo(OperatorSettings())
    with pytest.raises(kopf.TemporaryError, match="still starting"):
        await handlers.store_changed(body=BODY, reason="create", retry=0, memo=memo)


@pytest.mark.parametrize(
    ("error", "retry", "delay"),
    [
        (ReconcileError("apply conflict", retriable=True), 7, RETRY_SECONDS),
        (ReconcileError("PostgreSQL refused", retriable=True, backoff=True), 0, RETRY_SECONDS),
        (ReconcileError("PostgreSQL refused", retriable=True, backoff=True), 3, 8 * RETRY_SECONDS),
        # Doubling stops at the setting's ceiling.
        (ReconcileError("PostgreSQL refused", retriable=True, backoff=True), 30, 120.0),
    ],
)
async def test_a_retriable_failure_is_retried_after_its_delay(
    error: ReconcileError, retry: int, delay: float
) -> None:
    memo = memo_with(Failing(error), provision_retry_max_seconds=120.0)
    with pytest.raises(kopf.TemporaryError) as raised:
        await handlers.store_changed(body=BODY, reason="update", retry=retry, memo=memo)
    assert raised.value.delay == delay
    assert str(error) in str(raised.value)


async def test_a_failure_that_retrying_cannot_help_is_permanent() -> None:
    memo = memo_with(Failing(ReconcileError("the plan is unknown", retriable=False)))
    with pytest.raises(kopf.PermanentError, match="the plan is unknown"):
        await handlers.store_changed(body=BODY, reason="create", retry=0, memo=memo)


def causes(registry: kopf.OperatorRegistry, plural: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for handler in registry._changing.get_all_handlers():
        if handler.selector is not None and handler.selector.any_name == plural:
            # Kopf keeps resume handlers as handlers of no cause run at start.
            found["resume" if handler.initial else str(handler.reason)] = handler
    return found


def test_the_registry_serves_every_cause_of_stores_and_vendors_with_the_settings() -> None:
    settings = OperatorSettings(
        store_selector="team=a", drift_interval_seconds=42.0, watch_owned_objects=False
    )
    registry = handlers.build_registry(settings)
    for plural, changed, deleted in (
        ("stores", handlers.store_changed, handlers.store_deleted),
        ("vendors", handlers.vendor_changed, handlers.vendor_deleted),
    ):
        by_reason = causes(registry, plural)
        assert {by_reason[r].fn for r in ("create", "update", "resume")} == {changed}
        assert by_reason["delete"].fn is deleted
        assert all(h.labels == {"team": "a"} for h in by_reason.values())
    timers = list(registry._spawning.get_all_handlers())
    assert sorted(t.selector.any_name for t in timers if t.selector is not None) == [
        "stores",
        "vendors",
    ]
    assert {t.interval for t in timers} == {42.0}
    assert not list(registry._watching.get_all_handlers())
    watching = handlers.build_registry(OperatorSettings(watch_owned_objects=True))
    assert [h.fn for h in watching._watching.get_all_handlers()] == [handlers.owned_deployment]
