"""Second-factor secrets are stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256).

A TOTP secret is as good as the second factor itself, so a copy of the
accounts database (a backup, a stolen volume) must not carry it in the clear.
The key is ``STOREFLEET_ACCOUNTS_SECRETS_KEY`` (in a cluster, from the store's
Secret or Vault like the other credentials): one or more Fernet keys, comma
separated; the first encrypts, any of them decrypts, so a new key goes first
and the old one stays until every secret was written again.

On a laptop with no key configured, one is made on first start and kept in
``<data dir>/accounts-secrets.key`` (mode 0600), so secrets survive restarts.
In a pod a key must be configured.

Stored values read ``fernet:<token>``; a value without the prefix is a secret
from before encryption, which :func:`encrypt_stored_secrets` rewrites at start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from storefleet.runtime.accounts.models import User
from storefleet.runtime.platform.config.settings import in_kubernetes
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.private_files import private_directory, write_private

log = logging.getLogger(__name__)
PREFIX: Final = "fernet:"
KEY_FILE: Final = "accounts-secrets.key"


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    @classmethod
    def from_setting(cls, setting: str, data_dir: Path) -> SecretBox:
        keys = [key.strip() for key in setting.split(",") if key.strip()]
        if keys:
            return cls(keys)
        if in_kubernetes():
            raise RuntimeError("STOREFLEET_ACCOUNTS_SECRETS_KEY must be set in a cluster")
        return cls([local_key(data_dir)])

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; a value from before encryption is returned as it is."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "an MFA secret does not decrypt with STOREFLEET_ACCOUNTS_SECRETS_KEY "
                "(was its key removed?)"
            ) from exc


def local_key(data_dir: Path) -> str:
    """This laptop's key, made on first use, readable by its owner only."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    private_directory(data_dir)
    key = Fernet.generate_key().decode()
    write_private(path, key.encode())
    log.info("made a key for MFA secrets at rest: %s", path)
    return key


async def encrypt_stored_secrets(db: Database, box: SecretBox) -> int:
    """Encrypt the MFA secrets still stored in the clear; how many there were."""
    async with db.write() as session:
        rows = (
            await session.execute(
                select(User).where(
                    User.mfa_secret.is_not(None), User.mfa_secret.not_like(f"{PREFIX}%")
                )
            )
        ).scalars()
        count = 0
        for user in rows:
            user.mfa_secret = box.seal(str(user.mfa_secret))
            count += 1
    if count:
        log.info("encrypted %d MFA secrets stored before encryption", count)
    return count
