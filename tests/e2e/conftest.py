"""The end-to-end tests reuse the runtime integration tests' harness modules
(orders_harness) rather than a copy of them."""

from __future__ import annotations

import sys
from pathlib import Path

RUNTIME_HARNESS = Path(__file__).resolve().parents[1] / "integration" / "runtime"
if str(RUNTIME_HARNESS) not in sys.path:
    sys.path.insert(0, str(RUNTIME_HARNESS))
