"""Waiting for events on the in-process bus.

A service answers once its transaction committed; its relay publishes the
outbox rows a moment later. A test that reads ``bus.recent`` right after an
answer races the relay, so it waits for what it expects, up to a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from storefleet.runtime.platform.events.outbox import Event, InProcessEventBus


async def published(
    bus: InProcessEventBus,
    match: Callable[[Event], bool],
    *,
    count: int = 1,
    within: float = 30.0,
) -> list[Event]:
    """The events on the bus that ``match``, in publishing order, once at least
    ``count`` of them are out; fails after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(found := [event for event in bus.recent if match(event)]) < count:
        assert loop.time() < deadline, f"{count} matching event(s) not published in {within}s"
        await asyncio.sleep(0.05)
    return found


async def verification_link(bus: InProcessEventBus, email: str) -> str:
    """The newest address-confirmation link the accounts service sent to ``email``."""
    sent = await published(
        bus,
        lambda event: (
            event.type == "account.verification_requested" and event.payload["email"] == email
        ),
    )
    link: str = sent[-1].payload["link"]
    return link
