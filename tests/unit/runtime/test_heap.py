"""After startup a service's long-lived objects are out of the collector's way."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from storefleet.runtime.platform.web.heap import THRESHOLDS, settled_after_startup


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_startup_completing_freezes_what_startup_built(restored_gc: None) -> None:
    built: list[Any] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        built.extend({"row": n} for n in range(1000))  # what a startup loads
        assert gc.get_freeze_count() == 0
        await send({"type": "lifespan.startup.complete"})

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(message)

    gc.unfreeze()
    asyncio.run(settled_after_startup(app)({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold() == THRESHOLDS


def test_requests_pass_through_untouched(restored_gc: None) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        return None

    gc.unfreeze()
    asyncio.run(settled_after_startup(app)({"type": "http"}, nothing, ignore))
    assert seen == ["http"]
    assert gc.get_freeze_count() == 0
