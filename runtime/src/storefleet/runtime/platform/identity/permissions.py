"""Roles, what each may do, and the one FastAPI dependency that enforces it.

Every route of every service declares a rule: ``Depends(require("catalog:write"))``
for a permission from :data:`PERMISSIONS`, or ``Depends(public)`` for a route
anyone may call. ``tests/unit/runtime/test_route_permissions.py`` walks
every service's OpenAPI routes and fails for a route without a rule.

The same roles (named in :mod:`.roles`) come from an embedded JWT (accounts
service) or a Keycloak token (the realm's roles), read by :mod:`.tokens`,
so the same code authorizes in both modes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Final

from fastapi import Header, Request

from storefleet.runtime.platform.config.settings import development_mode
from storefleet.runtime.platform.identity.roles import (
    CALLERS,
    CUSTOMER,
    EVERYONE,
    ROLES,
    SERVICE_CART,
    SERVICE_ORDERS,
    SERVICE_VENDORS,
    STAFF,
    STORE_ADMIN,
    SUPPORT,
    VENDOR_ADMIN,
    VENDOR_STAFF,
)
from storefleet.runtime.platform.identity.tokens import (
    Principal,
    authenticator_of,
    default_authenticator,
)
from storefleet.runtime.platform.web.errors import ProblemError

# Routes that only another service of the store calls live under this segment
# of a service's prefix (``/internal/...``, routed as ``/api/catalog/internal/...``)
# and need a caller credential; the operator keeps every ``<route>/internal``
# off the store's ingress and mesh gateway, so shoppers never reach them.
SERVICE_ONLY_PREFIX: Final = "/internal"

# The role names live in roles (a leaf, which tokens imports too);
# re-exported here, where the services have always imported them.
__all__ = [
    "CUSTOMER",
    "EVERYONE",
    "MFA_ENROL",
    "PERMISSIONS",
    "PUBLIC",
    "ROLES",
    "STAFF",
    "STORE_ADMIN",
    "SUPPORT",
    "VENDOR_ADMIN",
    "VENDOR_STAFF",
    "allows",
    "public",
    "require",
    "roles_for",
    "rule_of",
]

PUBLIC: Final = "public"
MFA_ENROL: Final = "account:mfa-enrol"

# permission -> the roles granted it. A service asks for a permission, never a role.
PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    # a signed-in person's own account, addresses, preferences, export, deletion
    "account:self": EVERYONE,
    # what a person who must still set up a second factor may do: that, and read
    # their profile
    "account:mfa-enrol": EVERYONE,
    # catalog
    # (the vendors service writes its vendors' products, having checked who owns them)
    "catalog:write": frozenset({STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SERVICE_VENDORS}),
    "catalog:read-unpublished": frozenset(
        {STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SUPPORT, SERVICE_VENDORS}
    ),
    "inventory:adjust": frozenset({STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SERVICE_VENDORS}),
    # exact stock counts of every product (shoppers see a level; a vendor's
    # people count their own vendor's products, by the token's vendor_id)
    "inventory:read": frozenset({STORE_ADMIN, SUPPORT, SERVICE_CART, SERVICE_ORDERS}),
    # holding, committing and releasing stock for an order: the orders service,
    # never a shopper
    "inventory:reserve": frozenset({STORE_ADMIN, SERVICE_ORDERS}),
    # promotions and carts
    "promotions:manage": frozenset({STORE_ADMIN}),
    "promotions:read": frozenset({STORE_ADMIN, SUPPORT}),
    "promotions:redeem": frozenset({STORE_ADMIN, SERVICE_ORDERS}),
    "carts:manage": frozenset({STORE_ADMIN}),
    # claiming a cart for an order and consuming it: the orders service
    "carts:checkout": frozenset({STORE_ADMIN, SERVICE_ORDERS}),
    # customers and their accounts, as staff see them
    "customers:read": frozenset({STORE_ADMIN, SUPPORT}),
    "customers:manage": frozenset({STORE_ADMIN}),
    "audit:read": frozenset({STORE_ADMIN, SUPPORT}),
    # orders, payments, notifications (their services declare these)
    "orders:place": frozenset({CUSTOMER, STORE_ADMIN}),
    "orders:read-own": EVERYONE,
    "orders:read": frozenset({STORE_ADMIN, SUPPORT, VENDOR_ADMIN, VENDOR_STAFF}),
    "orders:manage": frozenset({STORE_ADMIN, SUPPORT}),
    "orders:fulfil": frozenset({STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF}),
    # (the orders service authorizes, captures, voids and refunds for its orders)
    "payments:read": frozenset({STORE_ADMIN, SUPPORT, SERVICE_ORDERS}),
    "payments:refund": frozenset({STORE_ADMIN, SERVICE_ORDERS}),
    "notifications:read": frozenset({STORE_ADMIN, SUPPORT}),
    # sales figures, top products, the funnel (the analytics service)
    "reports:read": frozenset({STORE_ADMIN, SUPPORT}),
    "notifications:manage": frozenset({STORE_ADMIN}),
    # vendors and the store itself
    "vendors:manage": frozenset({STORE_ADMIN}),
    "vendors:read": frozenset({STORE_ADMIN, SUPPORT}),
    "vendor:manage-own": frozenset({VENDOR_ADMIN}),
    # a vendor's people on their own vendor's products, stock and sub-orders
    "vendor:work": frozenset({VENDOR_ADMIN, VENDOR_STAFF}),
    # a shopper rating a vendor they bought from
    "reviews:write": frozenset({CUSTOMER}),
    "settings:manage": frozenset({STORE_ADMIN}),
}


def roles_for(permission: str) -> frozenset[str]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise ValueError(
            f"unknown permission {permission!r}; add it to PERMISSIONS in "
            "runtime/platform/identity/permissions.py with the roles it is granted to"
        ) from None


def allows(roles: frozenset[str] | set[str], permission: str) -> bool:
    return bool(roles & roles_for(permission))


def rule_of(dependency: Any) -> str | None:
    """The rule a dependency declares (a permission or ``public``), if any."""
    rule = getattr(dependency, "storefleet_rule", None)
    return rule if isinstance(rule, str) else None


async def public() -> None:
    """The rule of a route anyone may call, signed in or not."""


public.storefleet_rule = PUBLIC  # type: ignore[attr-defined]


def caller_of(token: str, callers: Mapping[str, str]) -> Principal | None:
    """The service a caller token belongs to (``callers``: caller name -> the token
    this service gave it), compared in constant time; None for any other token."""
    found = None
    for name, expected in callers.items():
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            found = Principal.caller(name, CALLERS[name])
    return found


def check_callers(callers: Mapping[str, str]) -> Mapping[str, str]:
    """``callers`` as a service's settings give them, refused at start when one
    names no known service (a typo would otherwise fail every call at run time)."""
    unknown = sorted(set(callers) - set(CALLERS))
    if unknown:
        raise ValueError(
            f"unknown caller {', '.join(unknown)} in ..._CALLER_TOKENS; callers are "
            + ", ".join(sorted(CALLERS))
        )
    return callers


def require(
    permission: str, *, admin_token: str = "", callers: Mapping[str, str] | None = None
) -> Callable[..., Awaitable[Any]]:
    """A dependency that admits a caller whose roles grant ``permission``.

    It answers 401 (with ``WWW-Authenticate``) without valid credentials and
    403 for a valid principal whose roles don't grant it, and returns the
    :class:`~storefleet.runtime.platform.identity.tokens.Principal` to the route.

    ``admin_token`` is a service's static bearer token (the operator's
    ``..._ADMIN_TOKEN``): it acts as a store admin, for the platform team's scripts.
    ``callers`` are the tokens this service gave the services that call it (the
    operator's ``..._CALLER_TOKENS``): each acts as that service's role only.
    """
    granted = roles_for(permission)
    known_callers = check_callers(callers or {})
    # Settings are read when the service is built, as every other setting is;
    # development mode switched on in a pod stops the service from being built.
    built_with = default_authenticator()
    may_run_open = development_mode()
    staff_only = CUSTOMER not in granted

    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        auth = authenticator_of(request.app, built_with)
        token = _bearer(authorization)
        if token is None:
            if (
                staff_only
                and may_run_open
                and not admin_token
                and not known_callers
                and auth.open_for_development()
            ):
                # Development mode (a laptop with no credentials configured): the
                # demo's admin API is open. A service given its own token never is.
                return Principal.development()
            raise ProblemError(
                401, "sign in to do this", headers={"WWW-Authenticate": 'Bearer realm="store"'}
            )
        principal: Principal | None
        if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
            principal = Principal.service()
        else:
            principal = caller_of(token, known_callers) or await auth.authenticate(token)
        if principal is None:
            raise ProblemError(
                401,
                "the access token is invalid or expired",
                headers={"WWW-Authenticate": 'Bearer realm="store", error="invalid_token"'},
            )
        if principal.mfa_pending and permission != MFA_ENROL:
            raise ProblemError(
                403, "set up two-factor authentication first", type_="mfa_enrolment_required"
            )
        if not principal.roles & granted:
            raise ProblemError(403, f"your role may not do this (needs permission {permission})")
        return principal

    dependency.storefleet_rule = permission  # type: ignore[attr-defined]
    return dependency


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        token = header[7:].strip()
        return token or None
    return None


Check = Callable[..., Awaitable[Principal]]


class RouteGuards:
    """The permission checks of one service's module-level routes.

    A route declares ``Depends(guards("orders:read"))`` where it is written, before
    any settings exist; the app builds one :func:`require` check per permission
    with its own settings (``build``, as ``require`` always read them: when the
    service is built) and keeps them on ``app.state.<state_key>``, where each
    route's dependency finds its check.
    """

    def __init__(self, state_key: str) -> None:
        self.state_key = state_key
        self.permissions: set[str] = set()

    def __call__(self, permission: str) -> Check:
        """The dependency of a route that needs ``permission``: the app's check of it."""
        roles_for(permission)  # an unknown permission fails where the route is declared
        self.permissions.add(permission)
        state_key = self.state_key

        async def check(
            request: Request, authorization: Annotated[str | None, Header()] = None
        ) -> Principal:
            app_checks: dict[str, Check] = getattr(request.app.state, state_key)
            return await app_checks[permission](request, authorization)

        check.storefleet_rule = permission  # type: ignore[attr-defined]
        return check

    def build(
        self, *, admin_token: str = "", callers: Mapping[str, str] | None = None
    ) -> dict[str, Check]:
        """One check per permission the routes ask for, built with the app's settings."""
        return {
            permission: require(permission, admin_token=admin_token, callers=callers)
            for permission in sorted(self.permissions)
        }
