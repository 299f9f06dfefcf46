"""What every Kopf handler shares: the operator's state, kept in Kopf's memo.

`storefleet operator run` hands Kopf a memo holding one `OperatorState`; each
handler reads it with `state_of(memo)`. The startup handler connects it, the
cleanup handler lets it go.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

import kopf

from storefleet.operator.errors import ReconcileError
from storefleet.operator.reconcile import Reconciler
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.vendors import VendorReconciler

# First retry of a failed reconcile; retries after an external system failed double from here.
RETRY_SECONDS: Final = 5.0


@dataclass
class OperatorState:
    settings: OperatorSettings
    api: Any = None  # kubernetes_asyncio's ApiClient, once started
    reconciler: Reconciler | None = None
    vendors: VendorReconciler | None = None
    # store name -> whether the pending reconcile must apply (True) or only observe
    pending: dict[str, bool] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Set by the cleanup handler: Kopf still fires timers while it shuts down.
    stopping: bool = False

    def require(self) -> Reconciler:
        if self.reconciler is None:
            raise kopf.TemporaryError("the operator is still starting", delay=1)
        return self.reconciler

    def require_vendors(self) -> VendorReconciler:
        if self.vendors is None:
            raise kopf.TemporaryError("the operator is still starting", delay=1)
        return self.vendors

    def backoff(self, retry: int) -> float:
        """Doubling from RETRY_SECONDS, for an external system that keeps failing."""
        delay: float = RETRY_SECONDS * 2 ** min(retry, 16)
        return min(delay, self.settings.provision_retry_max_seconds)

    def retry_delay(self, exc: ReconcileError, retry: int) -> float:
        return self.backoff(retry) if exc.backoff else RETRY_SECONDS


def new_memo(settings: OperatorSettings) -> kopf.Memo:
    return kopf.Memo(state=OperatorState(settings))


def state_of(memo: kopf.Memo) -> OperatorState:
    state = memo["state"]
    if not isinstance(state, OperatorState):
        raise TypeError("the operator runs with a memo made by new_memo()")
    return state
