"""Schemathesis against the notifications API, served as its own process.

No answer may be a 5xx or disagree with the published schema, and invalid
input must be refused (a 4xx problem). Embedded backend; the admin API is
open as on a laptop, so generated requests reach the templates and the log.
Schema-valid templates that do not render (an unknown variable's attribute,
an undefined filter) are refused with 422 by design; and DELETE of a template
drops the store's own wording, after which GET answers the default one by design
(the path names the wording in effect), which schemathesis's use-after-free
check would count as a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_harness import POSITIVE_DATA, ServedService, assert_no_findings, served

EXCLUDED_CHECKS = (POSITIVE_DATA, "use_after_free")


@pytest.fixture(scope="module")
def notifications(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedService]:
    workdir = tmp_path_factory.mktemp("notifications-fuzz")
    env = {
        "STOREFLEET_DATA_DIR": str(workdir),
        "STOREFLEET_NOTIFICATIONS_ACCESS_LOG": "false",
    }
    with served("notifications", env, workdir) as service:
        yield service


def test_schemathesis_finds_no_server_errors_in_notifications(
    notifications: ServedService, tmp_path: Path
) -> None:
    assert_no_findings(notifications, tmp_path, exclude=EXCLUDED_CHECKS)
