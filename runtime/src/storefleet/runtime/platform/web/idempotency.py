"""The ``Idempotency-Key`` header of a request that moves money: required, and
of a form the service can store and compare."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Header

from storefleet.runtime.platform.web.errors import ProblemError


def idempotency_key(longest: int) -> Callable[..., str]:
    """A dependency that returns the request's key: 8 to ``longest`` characters of
    A-Z a-z 0-9 _ . : -, else 400 saying what to send."""
    pattern = re.compile(rf"^[A-Za-z0-9_.:-]{{8,{longest}}}$")

    def key_of(key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str:
        if key is None:
            raise ProblemError(
                400,
                "this request moves money: send an Idempotency-Key header "
                f"(8-{longest} characters)",
            )
        if not pattern.match(key):
            raise ProblemError(400, f"Idempotency-Key must be 8-{longest} of A-Z a-z 0-9 _ . : -")
        return key

    return key_of
