"""The orders context's use cases, over its own database, in one object.

Each part is its own module and takes only what it needs: ``checkout``
(placing an order from the cart, in phases), the checkout ``saga``
(reserve → authorize → confirm → capture, compensated on failure),
``fulfilment`` (packing, shipping, delivery, reviews, cancellation),
``returns``, ``refunds`` and ``queries`` (reading orders). Every status change
goes through the ``OrderBook`` (:mod:`.book`: the table in states.py, the
history, the outbox event, in the caller's transaction); calls to the other
services go through :mod:`.clients` and the cart's through :mod:`.cart_link`.
"""

from __future__ import annotations

from storefleet.runtime.orders.book import OrderBook
from storefleet.runtime.orders.cart_link import CartLink
from storefleet.runtime.orders.checkout import Checkout
from storefleet.runtime.orders.clients import Upstreams
from storefleet.runtime.orders.fulfilment import Fulfilment
from storefleet.runtime.orders.queries import OrderQueries
from storefleet.runtime.orders.refunds import Refunds
from storefleet.runtime.orders.returns import Returns
from storefleet.runtime.orders.saga import SagaRunner
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database


class OrderService:
    def __init__(
        self,
        db: Database,
        settings: OrdersSettings,
        catalog: ServiceClient,
        cart: ServiceClient,
        payments: ServiceClient,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.relay = relay
        upstreams = Upstreams(settings, catalog, cart, payments)
        cart_link = CartLink(upstreams)
        book = OrderBook(relay)
        self.queries = OrderQueries(db)
        self.saga = SagaRunner(db, settings, book, upstreams, cart_link)
        self.checkout = Checkout(db, settings, upstreams, cart_link, book, self.queries, self.saga)
        self.refunds = Refunds(db, upstreams, book, self.queries)
        self.fulfilment = Fulfilment(db, book, self.queries, self.saga, self.refunds)
        self.returns = Returns(db, book, self.queries)
