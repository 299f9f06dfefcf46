"""The roles a principal can hold: the vocabulary both token checking and authorization use.

A leaf: :mod:`.auth_tokens` keeps a token's known roles and gives service and
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
STAFF: Final = frozenset({STORE_ADMIN, VENDOR_ADMIN, VENDOR_STAFF, SUPPORT})
EVERYONE: Final = frozenset(ROLES)
