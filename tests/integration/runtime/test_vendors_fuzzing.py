"""Schemathesis against the vendors API, served as its own process.

No answer may be a 5xx or disagree with the published schema, and invalid
input must be refused (a 4xx problem). Embedded backend; requests carry the
service's admin token, so generated requests reach the operator's routes,
payout runs and the ledger.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
BUDGET_SECONDS = os.environ.get("STOREFLEET_FUZZ_SECONDS", "20")
# Schema-valid values the schema can't rule out are refused with 422 by design
# (a commission with three decimals, 2026-02-30 as a payout date); and DELETE of
# a vendor offboards it, which GET then shows (status "offboarded") by design.
EXCLUDED_CHECKS = "positive_data_acceptance,use_after_free"
ADMIN_TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def vendors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("vendors-fuzz")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = workdir / "vendors.log"
    env = os.environ | {
        "STOREFLEET_DATA_DIR": str(workdir),
        "STOREFLEET_LOG_JSON": "false",
        "STOREFLEET_VENDORS_ACCESS_LOG": "false",
        "STOREFLEET_VENDORS_ADMIN_TOKEN": ADMIN_TOKEN,
        "STOREFLEET_VENDORS_PAYOUTS_ENABLED": "false",
    }
    env.pop("STOREFLEET_EVENTS_BOOTSTRAP_SERVERS", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "storefleet"), "runtime", "serve", "vendors", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vendors did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if log.exists():
            print(log.read_text()[-3000:])


def test_schemathesis_finds_no_server_errors_in_vendors(vendors: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{vendors}/openapi.json",
            "--header",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--max-time",
            BUDGET_SECONDS,
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--seed",
            "20261125",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-8000:]
