"""Schemathesis against the accounts service's OpenAPI schema, served for real
(`storefleet runtime serve accounts`): no 5xx, answers as documented, bad
input refused — anonymously and with a signed-in customer's and admin's token."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from accounts_harness import free_port

from storefleet.runtime.platform.auth_tokens import Authenticator, AuthSettings

BIN = Path(sys.executable).parent
BUDGET_SECONDS = os.environ.get("STOREFLEET_FUZZ_SECONDS", "20")
ISSUER = "storefleet:fuzz"


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Authenticator]]:
    workdir = tmp_path_factory.mktemp("accounts-fuzz")
    secret = secrets.token_urlsafe(32)
    port = free_port()
    env = os.environ | {
        "STOREFLEET_ACCOUNTS_DATABASE_URL": f"sqlite:///{workdir / 'accounts.db'}",
        "STOREFLEET_ACCOUNTS_ACCESS_LOG": "false",
        "STOREFLEET_ACCOUNTS_ATTEMPTS_PER_MINUTE": "100000",
        "STOREFLEET_AUTH_JWT_SECRET": secret,
        "STOREFLEET_AUTH_ISSUER": ISSUER,
        "STOREFLEET_AUTH_REQUIRED": "true",
        "STOREFLEET_LOG_JSON": "false",
    }
    log = workdir / "accounts.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "storefleet"), "runtime", "serve", "accounts", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        auth = Authenticator(AuthSettings(jwt_secret=secret, issuer=ISSUER))
        yield url, auth
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("role", ["anonymous", "customer", "store-admin"])
def test_schemathesis_finds_no_server_errors_in_accounts(
    accounts: tuple[str, Authenticator], role: str, tmp_path: Path
) -> None:
    url, auth = accounts
    headers = []
    if role != "anonymous":
        token = auth.issue_access(secrets.token_hex(16), {role}, ttl=3600)
        headers = ["-H", f"Authorization: Bearer {token}"]
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            *headers,
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
    assert result.returncode == 0, result.stdout[-6000:]
