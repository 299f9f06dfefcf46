"""Redis from Debian's packages, on its own port, with a generated password.

The default user gets a password so that per-tenant ACL users (created by the
operator's provisioner) are the only other way in. No persistence: test data.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import quote

from storefleet.dev.components.base import Component
from storefleet.dev.debian import ensure_packages
from storefleet.dev.processes import ensure_port_free, port_open, wait_until
from storefleet.dev.secrets_file import generated_password

PORT = int(os.environ.get("STOREFLEET_REDIS_PORT", "16379"))


class Redis(Component):
    name = "redis"
    process_names = ("redis",)

    @property
    def password(self) -> str:
        return generated_password(self.directory / "password")

    def install(self) -> None:
        ensure_packages(["redis-server"], "redis-server")

    def up(self) -> None:
        self.install()
        proc = self.process("redis")
        if proc.running():
            return
        ensure_port_free(PORT, proc)
        config = self.directory / "redis.conf"
        config.touch(mode=0o600)
        # In a file, not argv: the password would show in `ps`.
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {PORT}",
                    f"dir {self.directory}",
                    'save ""',
                    "appendonly no",
                    "daemonize no",
                    f"requirepass {self.password}",
                    "",
                ]
            )
        )
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        proc.start([server, str(config)])
        wait_until(self._answers, process=proc, what="PONG", timeout=30)

    def _answers(self) -> bool:
        if not port_open(PORT):
            return False
        import redis

        try:
            return bool(redis.Redis.from_url(self.url(), socket_timeout=2).ping())
        except redis.RedisError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://:{quote(self.password)}@127.0.0.1:{PORT}/{db}"

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url()}

    def describe(self) -> str:
        return f"redis://127.0.0.1:{PORT}"
