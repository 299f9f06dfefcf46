"""Schemathesis against the vendors API, served as its own process.

No answer may be a 5xx or disagree with the published schema, and invalid
input must be refused (a 4xx problem). Embedded backend; requests carry the
service's admin token, so generated requests reach the operator's routes,
payout runs and the ledger.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_harness import POSITIVE_DATA, ServedService, assert_no_findings, served

# Schema-valid values the schema can't rule out are refused with 422 by design
# (a commission with three decimals, 2026-02-30 as a payout date); and DELETE of
# a vendor offboards it, which GET then shows (status "offboarded") by design.
EXCLUDED_CHECKS = (POSITIVE_DATA, "use_after_free")
ADMIN_TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def vendors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedService]:
    workdir = tmp_path_factory.mktemp("vendors-fuzz")
    env = {
        "STOREFLEET_DATA_DIR": str(workdir),
        "STOREFLEET_VENDORS_ACCESS_LOG": "false",
        "STOREFLEET_VENDORS_ADMIN_TOKEN": ADMIN_TOKEN,
        "STOREFLEET_VENDORS_PAYOUTS_ENABLED": "false",
    }
    with served("vendors", env, workdir) as service:
        yield service


def test_schemathesis_finds_no_server_errors_in_vendors(
    vendors: ServedService, tmp_path: Path
) -> None:
    assert_no_findings(
        vendors,
        tmp_path,
        exclude=EXCLUDED_CHECKS,
        headers=[f"Authorization: Bearer {ADMIN_TOKEN}"],
    )
