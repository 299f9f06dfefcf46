"""Garbage-collector settings for a long-running service process.

What a service builds at startup (modules, routes, templates, compiled
queries, the demo catalog) lives as long as the process. CPython's full
collection walks every one of those objects again and again: on this runtime
each pass paused every request for a tenth of a second or more. Once startup
is over, :func:`settle` moves them out of the collector's sight
(``gc.freeze``), and a larger young-generation threshold makes collections
rarer, since request garbage is mostly freed by reference counting anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# (young, middle, old): CPython's defaults are (700, 10, 10).
THRESHOLDS: Final = (50_000, 20, 50)


def settle() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def settled_after_startup(app: ASGIApp) -> ASGIApp:
    """``app``, calling :func:`settle` once its lifespan startup has completed."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                settle()
            await send(message)

        await app(scope, receive, on_send)

    return wrapped
