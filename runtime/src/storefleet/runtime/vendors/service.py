"""The vendors context's use cases, over its own database, in one object.

Each part is its own module and takes only what it needs: the vendors
themselves (``registry``), their people (``members``), their products in the
catalog (``products``), their parts of orders (``suborders``), what the orders
service's events mean for them (``sales``), the ledger's statements
(``statements``), payout runs (``payouts``) and shoppers' ``reviews``. Writes
announce themselves through the outbox (:mod:`.changes`).
"""

from __future__ import annotations

from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.vendors.catalog_link import CatalogLink
from storefleet.runtime.vendors.members import Members
from storefleet.runtime.vendors.payouts import Payouts
from storefleet.runtime.vendors.products import Products
from storefleet.runtime.vendors.registry import Registry
from storefleet.runtime.vendors.reviews import Reviews
from storefleet.runtime.vendors.sales import CONSUMED, Sales
from storefleet.runtime.vendors.statements import Statements
from storefleet.runtime.vendors.suborders import SubOrders

__all__ = ["CONSUMED", "VendorService"]


class VendorService:
    def __init__(
        self,
        db: Database,
        catalog: ServiceClient,
        relay: OutboxRelay,
        catalog_token: str = "",
        currency: str = "EUR",
    ) -> None:
        self.db = db
        self.relay = relay
        link = CatalogLink(catalog, catalog_token)
        self.registry = Registry(db, relay, link)
        self.members = Members(db)
        # The store's currency: a vendor's prices must be in it (the catalog checks too).
        self.products = Products(db, relay, link, currency)
        self.suborders = SubOrders(db, relay)
        self.sales = Sales()
        self.statements = Statements(db)
        self.payouts = Payouts(db, relay)
        self.reviews = Reviews(db, relay)
