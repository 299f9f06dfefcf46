"""No setting of the product can stop or slow what it does for a test.

The crash tests hold the checkout saga between a step's remote call and its
record through a seam a test sets in-process (``SagaRunner.after_step``), not
through a setting: an environment variable left behind in a pod must never
hold shoppers' checkouts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storefleet.runtime.orders.app import create_app
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.platform.config.settings_reference import reference, settings_classes


def test_no_settings_class_has_a_test_only_field() -> None:
    hooks = [
        f"{cls.__name__}.{name}"
        for cls in settings_classes()
        for name in cls.model_fields
        if name.startswith("test_") or "pause" in name
    ]
    assert not hooks, f"test hooks in the product's settings: {hooks}"
    listed = [line for line in reference().splitlines() if "_TEST_" in line]
    assert not listed, listed


def test_a_stray_pause_variable_sets_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STOREFLEET_ORDERS_TEST_PAUSE_AFTER", "authorize")
    monkeypatch.setenv("STOREFLEET_ORDERS_TEST_PAUSE_FILE", "/tmp/paused")
    monkeypatch.setenv("STOREFLEET_DATA_DIR", str(tmp_path))
    settings = OrdersSettings()
    assert "test_pause_after" not in settings.model_dump()
    # The orders service as it is built, whose saga runner holds no checkout.
    app = create_app(settings)
    assert app.state.orders.saga.after_step is None
