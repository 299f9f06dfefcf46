"""HashiCorp Vault as a dev-mode server, built from its Go module (dev/go/vault).

See storefleet.dev.vaultbuild for why the build adapts three lines of it.

OpenBao, the design's first choice, publishes no module versions the proxy
serves here; Vault's API is the same one the operator's hvac client speaks.
Dev mode keeps everything in memory, starts unsealed and mounts KV v2 at
`secret/`; the root token is generated, kept beside the server's state, and
given to the server in its environment rather than on its command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from storefleet.dev.components.base import Component
from storefleet.dev.gobuild import GoTool
from storefleet.dev.processes import ensure_port_free, port_open, wait_until
from storefleet.dev.secrets_file import generated_password
from storefleet.dev.vaultbuild import build_vault

PORT = int(os.environ.get("STOREFLEET_VAULT_PORT", "18200"))

TOOL = GoTool(
    name="vault",
    module="github.com/hashicorp/vault",
    commands={"vault": "github.com/hashicorp/vault"},
)


@dataclass(frozen=True)
class VaultAccess:
    """Where Vault listens and its root token."""

    url: str
    token: str


class Vault(Component):
    name = "vault"
    process_names = ("vault",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{PORT}"

    @property
    def root_token(self) -> str:
        return generated_password(self.directory / "root-token")

    def install(self) -> None:
        build_vault(TOOL)

    def up(self) -> None:
        self.install()
        proc = self.process("vault")
        if proc.running():
            return
        ensure_port_free(PORT, proc)
        proc.start(
            [
                str(TOOL.binary("vault")),
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{PORT}",
                # Leave the user's ~/.vault-token alone.
                "-dev-no-store-token",
            ],
            env={
                "VAULT_DEV_ROOT_TOKEN_ID": self.root_token,
                # Vault's own CLI inside the server reads these; keep them ours.
                "VAULT_ADDR": self.url,
                "HOME": str(self.directory),
            },
            cwd=self.directory,
        )
        wait_until(self._healthy, process=proc, what="/v1/sys/health", timeout=60)

    def _healthy(self) -> bool:
        if not port_open(PORT):
            return False
        try:
            response = httpx.get(f"{self.url}/v1/sys/health", timeout=5)
        except httpx.HTTPError:
            return False
        # 200: initialized, unsealed and active.
        return response.status_code == 200

    def access(self) -> VaultAccess:
        return VaultAccess(self.url, self.root_token)

    def env(self) -> dict[str, str]:
        return {"VAULT_ADDR": self.url, "VAULT_TOKEN": self.root_token}

    def describe(self) -> str:
        return f"{self.url} (dev mode, in-memory, KV v2 at secret/)"
