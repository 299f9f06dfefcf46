from __future__ import annotations

import pytest

from storefleet.dev.components.helm import Helm


@pytest.fixture(scope="module")
def helm(dev_stack: object) -> str:
    dev_stack.require("helm")  # type: ignore[attr-defined]
    return Helm().binary
