"""What the orders routes share: the service, who is signed in, the shopper's
access to an order, the ``Idempotency-Key`` and the permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from storefleet.runtime.orders.service import OrderService
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import RouteGuards
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import NotFound, ProblemError
from storefleet.runtime.platform.web.idempotency import idempotency_key

OrderId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ReturnId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
EmailQuery = Annotated[str | None, Query(max_length=320)]
Page = Annotated[int, Query(ge=1, le=1000)]
PerPage = Annotated[int, Query(ge=1, le=100)]

guard = RouteGuards("orders_checks")


def get_orders(request: Request) -> OrderService:
    orders: OrderService = request.app.state.orders
    return orders


Orders = Annotated[OrderService, Depends(get_orders)]


Key = Annotated[str, Depends(idempotency_key(100))]


async def user_of(request: Request, orders: OrderService, authorization: str | None) -> str | None:
    """The signed-in shopper's id; None for a guest, 401 for a bad token."""
    token = auth.bearer(authorization)
    if token is None:
        return None
    principal = auth.verify(token, orders.settings.auth_secret)
    if principal is not None:
        return principal.user_id
    # An access token from the accounts service or the store's Keycloak realm.
    signed_in = await authenticator_of(request.app).authenticate(token)
    if signed_in is None:
        raise ProblemError(
            401,
            "the sign-in token is invalid or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return signed_in.subject


async def shopper_access(
    request: Request,
    orders: Orders,
    order_id: OrderId,
    email: EmailQuery = None,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The order's owner (signed in) or whoever knows its e-mail; to anyone
    else an order doesn't exist."""
    customer_id, order_email = await orders.queries.owner_of(order_id)
    user = await user_of(request, orders, authorization)
    if user is not None and customer_id == user:
        return order_id
    if email is not None and email.strip().lower() == order_email.lower():
        return order_id
    raise NotFound(f"no order '{order_id}'")


Shopper = Annotated[str, Depends(shopper_access)]
