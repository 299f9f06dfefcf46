"""Posting the shop's HTML forms as a browser does: with the CSRF token the
page carries (the same as the browser's ``sf_csrf`` cookie) and this site's
``Origin``."""

from __future__ import annotations

import re

import httpx

CSRF_FIELD = re.compile(r'name="csrf(?:-token)?" (?:value|content)="([^"]+)"')


async def csrf_of(client: httpx.AsyncClient, page: str = "/cart") -> str:
    """The token the browser's forms carry; opens ``page`` for it the first time."""
    known = client.cookies.get("sf_csrf")
    if known:
        return known
    opened = await client.get(page)
    found = CSRF_FIELD.search(opened.text)
    assert found, f"no CSRF field on {page}: {opened.status_code}"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient, action: str, fields: dict[str, str], *, page: str = "/cart"
) -> httpx.Response:
    token = await csrf_of(client, page)
    origin = str(client.base_url).rstrip("/")
    return await client.post(action, data={"csrf": token, **fields}, headers={"Origin": origin})
