"""PostgreSQL from Debian's packages, on its own data directory and port.

PostgreSQL refuses to run as root, so when the stack runs as root the server
runs as the `postgres` user that the Debian package creates, on a data
directory that user owns. Clients log in over TCP with a generated password.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from storefleet.dev.components.base import Component
from storefleet.dev.debian import ensure_packages
from storefleet.dev.processes import as_user, ensure_port_free, port_open, wait_until
from storefleet.dev.secrets_file import generated_password

PORT = int(os.environ.get("STOREFLEET_POSTGRES_PORT", "15432"))
SUPERUSER = "storefleet"
# Test-speed settings: the data is disposable, durability is not wanted here.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
}


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major, reverse=True)
    return Path(found[0]).parent if found else None


def _major(path: str) -> int:
    return int(Path(path).parts[-3])


class Postgres(Component):
    name = "postgres"
    process_names = ("postgres",)

    @property
    def password(self) -> str:
        return generated_password(self.directory / "password")

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def install(self) -> None:
        ensure_packages(["postgresql", "postgresql-contrib"], "/usr/lib/postgresql")
        if _bin_dir() is None:
            raise RuntimeError("PostgreSQL is installed but no server binary was found")

    def _chown(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _initdb(self, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted start
        self.directory.chmod(0o755)
        self.data_dir.mkdir(mode=0o700)
        self._chown(self.data_dir)
        pwfile = self.directory / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        argv = [
            str(bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]  # fmt: skip
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True, **as_user(self.run_as))
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed:\n{exc.stdout}\n{exc.stderr}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def up(self) -> None:
        self.install()
        proc = self.process("postgres")
        if proc.running():
            return
        ensure_port_free(PORT, proc)
        bin_dir = _bin_dir()
        assert bin_dir is not None
        self._initdb(bin_dir)
        socket_dir = self.directory / "socket"
        socket_dir.mkdir(exist_ok=True)
        self._chown(socket_dir)
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(PORT)]
        argv += ["-k", str(socket_dir)]
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        proc.start(argv, user=self.run_as)
        wait_until(self._accepts_logins, process=proc, what="login on port", timeout=60)

    def _accepts_logins(self) -> bool:
        if not port_open(PORT):
            return False
        import psycopg

        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("select 1")
        except psycopg.OperationalError:
            return False
        return True

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{quote(self.password)}@127.0.0.1:{PORT}/{database}"

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.dsn()}

    def describe(self) -> str:
        return f"postgresql://127.0.0.1:{PORT} (superuser {SUPERUSER}, data {self.data_dir})"
