"""Keycloak in development mode, from the server distribution on Maven Central.

dev/maven/keycloak/pom.xml pins `org.keycloak:keycloak-quarkus-dist`; the
archive is resolved into the cache and unpacked there once. Keycloak 26 needs
Java 21 or newer, so it runs on the newest installed JDK that qualifies.
Development mode keeps the realms in an in-memory database: like the stack's
Redis, it holds test data, and a restart starts clean. The bootstrap admin's
password is generated and passed in the environment, never on the command line.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from storefleet.dev.components.base import Component
from storefleet.dev.java import java_home
from storefleet.dev.mavenresolve import MavenArtifacts
from storefleet.dev.processes import ensure_port_free, port_open, wait_until
from storefleet.dev.secrets_file import generated_password

if TYPE_CHECKING:
    from keycloak import KeycloakAdmin

PORT = int(os.environ.get("STOREFLEET_KEYCLOAK_PORT", "18080"))
# Health and metrics are served apart from the public port.
MANAGEMENT_PORT = PORT + 1
ADMIN_USER = "storefleet-admin"
ARTIFACTS = MavenArtifacts("keycloak")
JAVA_MAJOR = 21
# Keycloak's own default outside containers; said here so it stays capped.
HEAP = "-Xms64m -Xmx512m"


@dataclass(frozen=True)
class KeycloakAccess:
    """Where Keycloak listens and the bootstrap admin's credentials."""

    url: str
    username: str
    password: str

    def admin(self) -> KeycloakAdmin:
        """A python-keycloak admin client logged in to the master realm."""
        from keycloak import KeycloakAdmin

        return KeycloakAdmin(
            server_url=self.url, username=self.username, password=self.password, realm_name="master"
        )


class Keycloak(Component):
    name = "keycloak"
    process_names = ("keycloak",)

    @property
    def admin_password(self) -> str:
        return generated_password(self.directory / "admin-password")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{PORT}"

    @property
    def home(self) -> Path:
        return ARTIFACTS.directory / f"keycloak-{ARTIFACTS.version}"

    def install(self) -> None:
        java_home(JAVA_MAJOR)
        if (self.home / "bin" / "kc.sh").exists():
            return
        [archive] = ARTIFACTS.resolve().glob("keycloak-quarkus-dist-*.tar.gz")
        partial = ARTIFACTS.directory / "unpack.partial"
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
        # Renamed only once complete, so an interrupted unpack is redone.
        (partial / self.home.name).replace(self.home)
        partial.rmdir()

    def up(self) -> None:
        self.install()
        proc = self.process("keycloak")
        if proc.running():
            return
        for port in (PORT, MANAGEMENT_PORT):
            ensure_port_free(port, proc)
        argv = [
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={PORT}",
            f"--http-management-port={MANAGEMENT_PORT}",
            "--health-enabled=true",
            "--db=dev-mem",
        ]
        env = {
            "JAVA_HOME": str(java_home(JAVA_MAJOR)),
            "JAVA_OPTS_KC_HEAP": HEAP,
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        # kc.sh forwards SIGTERM to the JVM, so stopping it by pid stops Keycloak.
        proc.start(argv, env=env)
        # Minutes, not seconds, on a busy two-core machine: the first start also
        # re-augments the Quarkus application and creates the schema.
        wait_until(self._ready, process=proc, what="/health/ready", timeout=360, interval=1)

    def _ready(self) -> bool:
        if not port_open(MANAGEMENT_PORT):
            return False
        try:
            response = httpx.get(f"http://127.0.0.1:{MANAGEMENT_PORT}/health/ready", timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def access(self) -> KeycloakAccess:
        return KeycloakAccess(self.url, ADMIN_USER, self.admin_password)

    def env(self) -> dict[str, str]:
        return {
            "KEYCLOAK_URL": self.url,
            "KEYCLOAK_ADMIN_USER": ADMIN_USER,
            "KEYCLOAK_ADMIN_PASSWORD": self.admin_password,
        }

    def describe(self) -> str:
        return f"{self.url} (admin {ADMIN_USER}, health on 127.0.0.1:{MANAGEMENT_PORT})"
