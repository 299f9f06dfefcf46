"""The order state machine's table: every status reachable, terminals final,
and the transitions shoppers and staff rely on allowed, the rest refused."""

from __future__ import annotations

import pytest

from storefleet.runtime.orders.states import (
    EVENTS,
    LABELS,
    TERMINAL,
    TRANSITIONS,
    Status,
    can_transition,
)

S = Status


def test_every_status_is_reachable_from_pending() -> None:
    seen = {S.PENDING}
    frontier = [S.PENDING]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)


def test_terminal_states_are_cancelled_and_refunded() -> None:
    assert {S.CANCELLED, S.REFUNDED} == TERMINAL


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.AWAITING_PAYMENT),
        (S.AWAITING_PAYMENT, S.PAID),
        (S.AWAITING_PAYMENT, S.ON_HOLD),
        (S.ON_HOLD, S.PAID),
        (S.PAID, S.FULFILLING),
        (S.FULFILLING, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED),
        (S.DELIVERED, S.RETURN_REQUESTED),
        (S.RETURN_REQUESTED, S.RETURNED),
        (S.RETURNED, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, S.REFUNDED),
        (S.PAID, S.CANCELLED),
    ],
)
def test_the_happy_paths_are_allowed(current: Status, target: Status) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.PAID),  # never paid without an authorization
        (S.PAID, S.SHIPPED),  # packed first
        (S.SHIPPED, S.CANCELLED),  # on its way: a return, not a cancellation
        (S.DELIVERED, S.REFUNDED),  # goods come back first
        (S.CANCELLED, S.PAID),
        (S.REFUNDED, S.RETURN_REQUESTED),
    ],
)
def test_the_rest_is_refused(current: Status, target: Status) -> None:
    assert not can_transition(current, target)


def test_every_shopper_visible_change_has_an_event_and_a_label() -> None:
    assert set(LABELS) == set(Status)
    assert EVENTS[S.PAID] == "order.paid"
    assert EVENTS[S.ON_HOLD] == "order.held_for_review"
    assert EVENTS[S.PARTIALLY_REFUNDED] == EVENTS[S.REFUNDED] == "order.refunded"
    assert all(event.startswith("order.") for event in EVENTS.values())
