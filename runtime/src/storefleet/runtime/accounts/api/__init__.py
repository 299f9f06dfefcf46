"""The accounts HTTP API: module-level routers, one per audience.

Anyone (:mod:`.sign_in`): registration, e-mail verification, sign-in (with a
second step for MFA), token refresh and sign-out, password reset. The
signed-in person (:mod:`.account`, ``/me``): their own profile, preferences,
addresses, MFA, data export and deletion. Staff (:mod:`.staff`, ``/admin``):
customers and the security audit log. A route reaches the app's
``AccountsService`` through ``Accounts``, the caller's address through ``Seen``
and its permission through ``guard``, ``Self`` or ``Enrolling`` (all in
:mod:`.deps`).
"""

from fastapi import APIRouter

from storefleet.runtime.accounts.api import account, sign_in, staff
from storefleet.runtime.accounts.api.deps import guard
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES)
router.include_router(sign_in.router)
router.include_router(account.router)
router.include_router(staff.router)

__all__ = ["guard", "router"]
