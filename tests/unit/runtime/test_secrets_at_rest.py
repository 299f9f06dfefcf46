"""Owner-only files (embedded databases, mail, keys) and MFA secrets sealed with
the configured key."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storefleet.runtime.accounts.secrets_at_rest import KEY_FILE, SecretBox
from storefleet.runtime.notifications.channels import FileMailSender, OutgoingMessage
from storefleet.runtime.platform.storage.private_files import private_sqlite, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    private_sqlite(f"sqlite:///{folder / 'accounts.db'}")
    assert mode(folder) == 0o700
    assert mode(folder / "accounts.db") == 0o600


def test_an_existing_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "accounts.db"
    for name in ("accounts.db", "accounts.db-wal", "accounts.db-shm"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    tmp_path.chmod(0o755)
    private_sqlite(f"sqlite+aiosqlite:///{database}")
    assert mode(tmp_path) == 0o700
    for name in ("accounts.db", "accounts.db-wal", "accounts.db-shm"):
        assert mode(tmp_path / name) == 0o600, name


def test_other_databases_are_left_alone(tmp_path: Path) -> None:
    private_sqlite("postgresql://user@db/accounts")
    private_sqlite("sqlite://")


def test_private_writes_replace_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert mode(path) == 0o600


async def test_mail_written_to_disk_is_owner_only(tmp_path: Path) -> None:
    sender = FileMailSender(tmp_path / "mail", mail_from="shop@example.test")
    message = OutgoingMessage(
        id=uuid.uuid4().hex,
        channel="email",
        recipient="ada@example.test",
        subject="Reset your password",
        body="https://shop.example/account/reset?token=secret",
        html=None,
        sender_name="Test Shop",
        event_type="account.password_reset_requested",
    )
    await sender.send(message)
    written = tmp_path / "mail" / f"{message.id}.eml"
    assert b"Reset your password" in written.read_bytes()
    assert mode(written) == 0o600
    assert mode(tmp_path / "mail") == 0o700


def test_secrets_are_sealed_and_old_clear_ones_still_read() -> None:
    box = SecretBox([Fernet.generate_key().decode()])
    sealed = box.seal("JBSWY3DPEHPK3PXP")
    assert sealed.startswith("fernet:")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed) == "JBSWY3DPEHPK3PXP"
    assert box.open("JBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXP"


def test_a_new_key_goes_first_and_the_old_one_still_opens() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = SecretBox([old]).seal("SECRET")
    rotated = SecretBox.from_setting(f"{new}, {old}", Path("/nonexistent"))
    assert rotated.open(sealed_before) == "SECRET"
    assert SecretBox([new]).open(rotated.seal("SECRET")) == "SECRET"
    with pytest.raises(RuntimeError, match="does not decrypt"):
        SecretBox([new]).open(sealed_before)


def test_a_laptop_makes_its_key_once_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    first = SecretBox.from_setting("", tmp_path)
    sealed = first.seal("SECRET")
    assert mode(tmp_path / KEY_FILE) == 0o600
    assert SecretBox.from_setting("", tmp_path).open(sealed) == "SECRET"


def test_a_pod_needs_a_configured_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(RuntimeError, match="STOREFLEET_ACCOUNTS_SECRETS_KEY"):
        SecretBox.from_setting("", tmp_path)
