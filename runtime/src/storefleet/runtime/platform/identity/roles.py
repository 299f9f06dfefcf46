"""The roles a principal can hold: the vocabulary both token checking and authorization use.

A leaf: :mod:`.tokens` keeps a token's known roles and gives service and
development principals theirs, :mod:`.permissions` grants permissions to
them, and neither has to import the other for the names.
"""

from __future__ import annotations

from typing import Final

CUSTOMER: Final = "customer"
STORE_ADMIN: Final = "store-admin"
VENDOR_ADMIN: Final = "vendor-admin"
VENDOR_STAFF: Final = "vendor-staff"
SUPPORT: Final = "support"
ROLES: Final = (CUSTOMER, STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SUPPORT)
# Another service of the store, calling with the token its callee gave it for
# that call (``STOREFLEET_<CALLEE>_CALLER_TOKENS``): it may do what that call
# needs and nothing more. Never a token's role: no sign-in grants one.
SERVICE_ORDERS: Final = "service:orders"
SERVICE_CART: Final = "service:cart"
SERVICE_VENDORS: Final = "service:vendors"
CALLERS: Final = {"orders": SERVICE_ORDERS, "cart": SERVICE_CART, "vendors": SERVICE_VENDORS}
STAFF: Final = frozenset({STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SUPPORT})
EVERYONE: Final = frozenset(ROLES)
