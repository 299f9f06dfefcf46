"""docs/runtime-settings.md lists every setting of the runtime, as the code has it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from storefleet.runtime.commands import cli
from storefleet.runtime.platform.config.settings_reference import reference, settings_classes

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "runtime-settings.md"


def test_the_reference_is_generated_from_the_code() -> None:
    assert DOC.read_text() == reference(), (
        "docs/runtime-settings.md is stale: run "
        "`storefleet runtime settings-docs --output docs/runtime-settings.md`"
    )


def test_a_row_gives_the_variable_its_default_limits_and_why() -> None:
    rows = {line.split(" | ")[0].strip("| `"): line for line in reference().splitlines()}
    row = rows["STOREFLEET_STORE_TAX_RATE_BPS"]
    assert "`2000`" in row
    assert "≥ 0, ≤ 10000" in row
    assert "Basis points" in row  # the comment above the field
    # A service's own settings carry its prefix; the common ones are listed once.
    assert "STOREFLEET_CATALOG_READ_CACHE_SECONDS" in rows
    assert "STOREFLEET_CATALOG_DATABASE_URL" not in rows
    assert "STOREFLEET_DATABASE_URL" in rows
    # A default that depends on where the process runs shows a laptop's.
    assert "`http://127.0.0.1:8001`" in rows["STOREFLEET_CART_CATALOG_URL"]
    # Settings declared beside the code that reads them are found too.
    assert "STOREFLEET_STOREFRONT_INBOX_STREAM_URL" in rows
    assert {"ServiceSettings", "StorefrontSettings", "CheckoutSettings"} <= {
        c.__name__ for c in settings_classes()
    }


def test_the_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "settings.md"
    stale.write_text("# old\n")
    result = CliRunner().invoke(cli, ["settings-docs", "--output", str(stale), "--check"])
    assert result.exit_code != 0
    assert "stale" in result.output
    result = CliRunner().invoke(cli, ["settings-docs", "--output", str(stale)])
    assert result.exit_code == 0
    assert stale.read_text() == reference()
