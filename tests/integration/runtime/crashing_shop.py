"""`storefleet runtime serve all`, with the checkout saga stopped at one step.

Run as ``python crashing_shop.py <step> <marker file> <serve all's arguments...>``
by test_orders_crash.py. Before serving, it sets the saga runner's
``after_step`` seam (runtime/src/storefleet/runtime/orders/saga.py): once the step's remote call has
succeeded, and before the saga records it, the marker file gets the step's
name and the saga waits for ever, so the test can kill the process at the
worst moment. Nothing in the product's settings can do this.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from storefleet.cli import main
from storefleet.runtime.orders.saga import SagaRunner


def stop_at(step: str, marker: Path) -> None:
    async def hold(reached: str) -> None:
        if reached != step:
            return
        await asyncio.to_thread(marker.write_text, reached)
        await asyncio.Event().wait()

    runner_init = SagaRunner.__init__

    def with_hold(self: SagaRunner, *args: Any, **kwargs: Any) -> None:
        runner_init(self, *args, **kwargs)
        self.after_step = hold

    SagaRunner.__init__ = with_hold  # type: ignore[method-assign]


if __name__ == "__main__":
    step, marker, *serve = sys.argv[1:]
    stop_at(step, Path(marker))
    sys.argv = ["storefleet", "runtime", "serve", "all", *serve]
    main()
