"""Headless Chromium for the storefront's browser tests, and where their screenshots go."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "storefront"
# No sandbox (tests run as root in CI containers) and nothing that phones home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def launch(executable: str) -> AsyncIterator[Any]:
    """A headless browser (the ``chromium`` fixture gives the executable)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()
