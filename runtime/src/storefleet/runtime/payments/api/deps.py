"""What the payments routes share: the service, the path parameters, the
``Idempotency-Key`` of a money-moving request and the permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from storefleet.runtime.payments.sandbox import SandboxGateway
from storefleet.runtime.payments.service import PaymentsService
from storefleet.runtime.platform.identity.permissions import RouteGuards
from storefleet.runtime.platform.web.errors import ProblemError
from storefleet.runtime.platform.web.idempotency import idempotency_key

PaymentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
MethodId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@-]{1,100}$")]
ChargeId = Annotated[str, Path(pattern=r"^ch_[0-9a-f]{1,40}$")]

# The orders service calls with the token this service gave it; store admins may too.
guard = RouteGuards("payments_checks")


def get_payments(request: Request) -> PaymentsService:
    payments: PaymentsService = request.app.state.payments
    return payments


PaymentsDep = Annotated[PaymentsService, Depends(get_payments)]


Key = Annotated[str, Depends(idempotency_key(150))]


def sandbox_of(payments: PaymentsService) -> SandboxGateway:
    """The sandbox processor, for the routes that only it has."""
    if not isinstance(payments.gateway, SandboxGateway):
        raise ProblemError(404, "no sandbox processor here")
    return payments.gateway
