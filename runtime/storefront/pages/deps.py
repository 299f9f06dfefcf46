"""What the shop's pages are given: the site (set on ``app.state`` by the app
factory) with its clients, templates and navigation."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from storefleet.runtime.storefront.site import Site


def site(request: Request) -> Site:
    found: Site = request.app.state.site
    return found


SiteDep = Annotated[Site, Depends(site)]
