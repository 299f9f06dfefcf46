"""Many Stores at once: all of them reach Ready, and how long that takes is recorded."""

from __future__ import annotations

import time

from storeharness import ROOT, Stores, eventually

FLEET = 20


def test_twenty_stores_applied_at_once_all_become_ready(stores: Stores) -> None:
    started = time.monotonic()
    names = [stores.create(Stores.unique("fleet")) for _ in range(FLEET)]
    created = time.monotonic() - started

    def ready_count() -> int:
        return sum(1 for name in names if stores.is_ready(name))

    eventually(lambda: ready_count() == FLEET, f"all {FLEET} Stores to be Ready", timeout=300)
    elapsed = time.monotonic() - started
    report = (
        f"{FLEET} Stores (plan small, 8 services each) created in {created:.1f}s, "
        f"all Ready {elapsed:.1f}s after the first was created\n"
    )
    print("\n" + report)
    artifacts = ROOT / "test-artifacts" / "operator"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "fleet-timing.txt").write_text(report)
