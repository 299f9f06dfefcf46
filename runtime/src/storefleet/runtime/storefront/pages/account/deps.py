"""What the account pages' handlers are given: the pages' state (set on
``app.state`` by the app factory) and the signed-in viewer, if any."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from storefleet.runtime.storefront.viewers import AccountPages, Viewer


def account_pages(request: Request) -> AccountPages:
    pages: AccountPages = request.app.state.account_pages
    return pages


AccountPagesDep = Annotated[AccountPages, Depends(account_pages)]


async def viewer(request: Request, pages: AccountPagesDep) -> Viewer | None:
    """The signed-in viewer; None for a guest or a session past refreshing.

    Only for pages that ask nothing first: a posted form's CSRF token and session
    are checked (``pages.form``) before the viewer is looked up."""
    return await pages.viewer(request)


ViewerDep = Annotated[Viewer | None, Depends(viewer)]
