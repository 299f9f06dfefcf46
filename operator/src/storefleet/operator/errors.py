"""The error a reconcile ends with when it could not finish."""

from __future__ import annotations


class ReconcileError(Exception):
    """A reconcile could not finish; retriable says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool, backoff: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable
        # An external system is failing: retry with growing delays, not every 5 s.
        self.backoff = backoff
