"""The end-to-end tests reuse the integration tests' harness modules (orders_harness,
storeharness, node_pods) rather than a copy of them."""

from __future__ import annotations

import sys
from pathlib import Path

for harness in ("runtime", "operator", "devstack"):
    folder = Path(__file__).resolve().parents[1] / "integration" / harness
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
