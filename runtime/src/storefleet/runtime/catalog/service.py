"""The catalog's use cases, over its own database only, in one object.

Each part is its own module and takes only what it needs: the listing
(search, filters, facets), browsing (product pages, categories, brands, SKU
lookups), recommendations, the admin writes and the inventory (stock and
reservations). Writes share ``Changes``: their events go to the outbox, and a
commit empties the read cache every part serves from.
"""

from __future__ import annotations

from storefleet.runtime.catalog.admin import Admin
from storefleet.runtime.catalog.browse import Browse
from storefleet.runtime.catalog.changes import Changes
from storefleet.runtime.catalog.inventory import Inventory
from storefleet.runtime.catalog.listing import Listing
from storefleet.runtime.catalog.recommendations import Recommendations
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.readcache import ReadCache


class CatalogService:
    def __init__(
        self,
        db: Database,
        settings: CatalogSettings,
        relay: OutboxRelay | None = None,
        currency: str = "EUR",
    ) -> None:
        self.db = db
        self.settings = settings
        # The store's currency: every price is in it (carts and orders add prices up).
        self.currency = currency
        self.relay = relay
        self.reads = ReadCache(settings.resolved_read_cache_seconds())
        self.listing = Listing(db, settings, self.reads)
        self.browse = Browse(db, settings, self.reads)
        self.recommendations = Recommendations(db, self.reads)
        changes = Changes(self.reads, relay, forget=self.listing.forget_vocabulary)
        self.admin = Admin(db, changes, self.browse, currency)
        self.inventory = Inventory(db, settings, changes, self.browse)
