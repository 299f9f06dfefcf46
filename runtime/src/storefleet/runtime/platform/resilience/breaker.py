"""A circuit breaker per upstream: after repeated failures it opens and fails fast
until a trial call after ``reset_timeout`` succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from prometheus_client import Counter, Gauge

BREAKER_STATE = Gauge(
    "storefleet_circuit_breaker_open", "1 while the breaker to an upstream is open", ["upstream"]
)
BREAKER_OPENS = Counter(
    "storefleet_circuit_breaker_opens_total",
    "Times the breaker to an upstream opened (an alert sees a short outage the gauge missed)",
    ["upstream"],
)


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    pass


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            self._state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        return self._state

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            # Exactly one trial call probes a recovering upstream.
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._trial_in_flight = False
        BREAKER_STATE.labels(self.name).set(0)

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            if self._state is not BreakerState.OPEN:
                BREAKER_OPENS.labels(self.name).inc()
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._trial_in_flight = False
            BREAKER_STATE.labels(self.name).set(1)
