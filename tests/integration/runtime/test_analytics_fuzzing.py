"""Schemathesis against the analytics reports, served as its own process.

No answer may be a 5xx or disagree with the published schema, and invalid
input (dates out of order, a period too long, a limit out of bounds) must be
refused with a 4xx problem. Embedded backend, with a few days of events in
its read models so the reports have rows to answer with; requests carry the
service's admin token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_harness import ServedService, assert_no_findings, served

from storefleet.runtime.analytics.app import MIGRATIONS, VERSION_TABLE
from storefleet.runtime.analytics.service import AnalyticsService
from storefleet.runtime.analytics.settings import AnalyticsSettings
from storefleet.runtime.platform.events.outbox import Event
from storefleet.runtime.platform.storage.db import Database

ADMIN_TOKEN = secrets.token_urlsafe(24)


async def _seed(database_url: str) -> None:
    """Count a few days of sales, straight through the service's handler."""
    db = Database(database_url)
    service = AnalyticsService(db, AnalyticsSettings(database_url=database_url))
    try:
        await db.migrate(MIGRATIONS, VERSION_TABLE)
        today = dt.datetime.now(dt.UTC)
        for n in range(5):
            line = {"sku": f"SKU-{n}", "product_id": n or None, "quantity": n + 1,
                    "unit_price_minor": 999, "line_total_minor": 999 * (n + 1)}  # fmt: skip
            data = {"order_id": f"o{n}", "currency": "EUR" if n % 2 else "USD",
                    "total_minor": 999 * (n + 1), "lines": [line], "refund_minor": 100}  # fmt: skip
            for kind in ("order.placed", "order.paid", "order.refunded", "cart.abandoned"):
                event = Event(kind, data, occurred_at=today - dt.timedelta(days=n))
                async with db.write() as session:
                    await service.handle_event(event, session)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedService]:
    workdir = tmp_path_factory.mktemp("analytics-fuzz")
    database_url = f"sqlite:///{workdir / 'analytics.db'}"
    asyncio.run(_seed(database_url))
    env = {
        "STOREFLEET_ANALYTICS_DATABASE_URL": database_url,
        "STOREFLEET_ANALYTICS_ACCESS_LOG": "false",
        "STOREFLEET_ANALYTICS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    with served("analytics", env, workdir) as service:
        yield service


def test_schemathesis_finds_no_server_errors_in_analytics(
    analytics: ServedService, tmp_path: Path
) -> None:
    assert_no_findings(analytics, tmp_path, headers=[f"Authorization: Bearer {ADMIN_TOKEN}"])
