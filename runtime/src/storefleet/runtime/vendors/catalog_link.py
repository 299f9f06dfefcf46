"""How the vendors service reaches the catalog, which holds its vendors' products."""

from __future__ import annotations

from typing import Any

import httpx

from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.errors import ProblemError


class CatalogLink:
    """The catalog's admin API, called with the token the catalog gave this service."""

    def __init__(self, client: ServiceClient, token: str = "") -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return await self.client.request(method, path, json=json, headers=self.headers)

    async def call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        response = await self.request(method, path, json=json)
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = ""
            status = response.status_code
            if status in (401, 403) or status >= 500:
                raise ProblemError(502, f"the catalog answered {status}: {detail}")
            raise ProblemError(status, detail or f"the catalog answered {status}")
        if response.status_code == 204:
            return {}
        result: dict[str, Any] = response.json()
        return result
