"""Schemathesis against the accounts service's OpenAPI schema, served for real
(`storefleet runtime serve accounts`): no 5xx, answers as documented, bad
input refused — anonymously and with a signed-in customer's and admin's token."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_harness import ServedService, assert_no_findings, served

from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings

ISSUER = "storefleet:fuzz"


@pytest.fixture(scope="module")
def accounts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServedService, Authenticator]]:
    workdir = tmp_path_factory.mktemp("accounts-fuzz")
    secret = secrets.token_urlsafe(32)
    env = {
        "STOREFLEET_ACCOUNTS_DATABASE_URL": f"sqlite:///{workdir / 'accounts.db'}",
        "STOREFLEET_ACCOUNTS_ACCESS_LOG": "false",
        "STOREFLEET_ACCOUNTS_ATTEMPTS_PER_MINUTE": "100000",
        "STOREFLEET_AUTH_JWT_SECRET": secret,
        "STOREFLEET_AUTH_ISSUER": ISSUER,
        "STOREFLEET_AUTH_REQUIRED": "true",
    }
    with served("accounts", env, workdir) as service:
        yield service, Authenticator(AuthSettings(jwt_secret=secret, issuer=ISSUER))


@pytest.mark.parametrize("role", ["anonymous", "customer", "store-admin"])
def test_schemathesis_finds_no_server_errors_in_accounts(
    accounts: tuple[ServedService, Authenticator], role: str, tmp_path: Path
) -> None:
    service, auth = accounts
    headers = []
    if role != "anonymous":
        token = auth.issue_access(secrets.token_hex(16), {role}, ttl=3600)
        headers = [f"Authorization: Bearer {token}"]
    assert_no_findings(service, tmp_path, headers=headers)
