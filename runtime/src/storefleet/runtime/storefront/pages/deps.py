"""What the shop's pages are given, as the app factory set it on ``app.state``:
the site (its clients, templates and navigation) and the orders and payments
services' clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from storefleet.runtime.storefront.ordering import Ordering
from storefleet.runtime.storefront.site import Site


def site(request: Request) -> Site:
    found: Site = request.app.state.site
    return found


SiteDep = Annotated[Site, Depends(site)]


def ordering(request: Request) -> Ordering:
    found: Ordering = request.app.state.ordering
    return found


OrderingDep = Annotated[Ordering, Depends(ordering)]
