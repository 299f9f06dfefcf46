"""A Store's share of the external systems, as one step of the reconcile.

For each integration block of the spec this decides, from data, who serves it:

- the block is off: the runtime's embedded default (SQLite, in-memory cache, ...);
- the block is on and the operator has that system's server: its provisioner;
- the block is on and there is no server: the in-namespace stand-in the
  templates deploy (PostgreSQL, Redis), or the runtime's own fallback.

It generates and keeps the tenant's credentials (:mod:`credentials`), runs the
provisioners, and hands the templates what the runtime needs: a Secret of
environment, or the Vault role through which the runtime reads it at start.
A system that fails leaves its condition False with the reason; the reconcile
marks the Store Degraded and retries, it never raises out of here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from storefleet.operator import credentials, egress
from storefleet.operator.context import VAULT_TOKEN_DIR, StoreContext, Tenancy, empty_tenancy
from storefleet.operator.integrations import BY_BLOCK, INTEGRATIONS, TEARDOWN
from storefleet.operator.kinds import kind_of
from storefleet.operator.kube import Kube
from storefleet.operator.provisioners.base import (
    DeletionPolicy,
    Provisioner,
    Result,
    Tenant,
    outcome,
)
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioners.vault import (
    SHARED_SECRET,
    VaultProvisioner,
    secret_path,
    service_secret,
)
from storefleet.operator.services import SERVICE_NAMES
from storefleet.operator.status import Condition
from storefleet.operator.vocabulary import ConditionType, Reason

log = logging.getLogger("storefleet.operator.provisioning")

ROTATE_ANNOTATION: Final = "storefleet.io/rotate-credentials"
# Secret in the tenant namespace holding social-login client secrets, one key per alias,
# written by the platform team (or under <path>/identity-providers in Vault).
IDP_SECRET: Final = "identity-providers"


@dataclass
class Provisioned:
    """What provisioning found and made, for the conditions and the templates."""

    conditions: dict[str, Condition] = field(default_factory=dict)
    # The first failed system's reason, which makes the Store Degraded.
    degraded: str | None = None
    # Data for the templates (context["tenancy"]).
    template: Tenancy = field(default_factory=empty_tenancy)
    rotation: str | None = None
    rotated: bool = False


def _decode(secret: Mapping[str, Any] | None) -> dict[str, str]:
    data = (secret or {}).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


class TenantProvisioning:
    def __init__(self, kube: Kube | None, settings: ProvisionerSettings) -> None:
        # None: offline, for rendering without a cluster (see offline()).
        self._kube = kube
        self.settings = settings

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            raise RuntimeError("provisioning needs the Kubernetes API; offline() does not")
        return self._kube

    def provisioner(self, block: str, plan: str) -> Provisioner | None:
        return BY_BLOCK[block].provisioner(self.settings, plan)

    def served(self, context: StoreContext) -> dict[str, Provisioner]:
        """The enabled blocks the operator has a server for."""
        plan = context["plan"].name
        found = {}
        for block, integration in context["integrations"].items():
            if integration["enabled"] and (made := self.provisioner(block, plan)) is not None:
                found[block] = made
        return found

    async def ensure(self, store: Mapping[str, Any], context: StoreContext) -> Provisioned:
        """One pass, top to bottom: which servers serve the Store (the plan), what its
        credentials are, each server ensured, their outputs collected into the
        runtime's environment, the credentials written back, the conditions."""
        annotations = store["metadata"].get("annotations") or {}
        wanted_rotation = annotations.get(ROTATE_ANNOTATION)
        applied_rotation = (store.get("status") or {}).get("credentialsRotation")
        rotate = bool(wanted_rotation) and wanted_rotation != applied_rotation
        served = self.served(context)
        done = Provisioned(rotation=wanted_rotation or applied_rotation)
        vault = served.get("secrets")
        assert vault is None or isinstance(vault, VaultProvisioner)

        home = await self._credentials_home(context, vault)
        if isinstance(home, Exception):
            assert vault is not None
            return self._waiting_for_vault(context, vault, home, served, done)
        current, idp_secrets = home
        creds = credentials.converge(current, rotate)
        done.rotated = rotate

        results = await self._ensure_each(context, served, creds, idp_secrets)
        outputs: dict[str, str] = {}
        for result in results.values():
            outputs.update(result.outputs)
        outputs.update(self._in_namespace_outputs(context, creds))
        env = credentials.runtime_env(creds, outputs)
        if vault is not None:
            # The credentials are written even when another system failed: they are
            # the only copy, and the next pass must find the same passwords.
            block, result = await run_vault(
                vault, _tenant(context, "secrets"), creds, env, credentials.service_env(creds)
            )
            results[block] = result

        for result in results.values():
            done.conditions[result.condition.type] = result.condition
            if not result.ok and done.degraded is None:
                done.degraded = result.condition.reason
        integrations = context["integrations"]
        for block, integration in integrations.items():
            if integration["condition"] not in done.conditions:
                done.conditions[integration["condition"]] = self._unserved(
                    block, integration, integrations
                )
        done.template = self._template(context, creds, env, vault=vault, blocked=False)
        return done

    async def _credentials_home(
        self, context: StoreContext, vault: VaultProvisioner | None
    ) -> tuple[dict[str, str], dict[str, str]] | Exception:
        """The Store's credentials and social-login secrets where they are kept
        (Vault, or the tenant's Secrets), or why Vault did not answer."""
        if vault is None:
            namespace = context["namespace"]
            current = _decode(
                await self.kube.get(_SECRET, namespace, credentials.CREDENTIALS_SECRET)
            )
            return current, _decode(await self.kube.get(_SECRET, namespace, IDP_SECRET))
        tenant = _tenant(context, "secrets")
        try:
            current = await vault.read_secret(tenant, "credentials") or {}
            return current, await vault.read_secret(tenant, IDP_SECRET) or {}
        except Exception as exc:  # any failure of Vault is reported, not raised
            return exc

    def _waiting_for_vault(
        self,
        context: StoreContext,
        vault: VaultProvisioner,
        error: Exception,
        served: Mapping[str, Provisioner],
        done: Provisioned,
    ) -> Provisioned:
        """Vault did not answer: it is the failing system, the others wait for it, and
        nothing is re-rendered from credentials."""
        result = vault.unavailable(error)
        done.conditions[ConditionType.SECRETS] = result.condition
        done.degraded = result.condition.reason
        integrations = context["integrations"]
        for block in served:
            if block != "secrets":
                done.conditions[integrations[block]["condition"]] = Condition(
                    integrations[block]["condition"],
                    "Unknown",
                    Reason.WAITING_FOR_SECRETS,
                    "the tenant's credentials are kept in Vault, which did not answer",
                )
        done.template = self._template(context, {}, {}, vault=None, blocked=True)
        return done

    async def _ensure_each(
        self,
        context: StoreContext,
        served: Mapping[str, Provisioner],
        creds: Mapping[str, str],
        idp_secrets: Mapping[str, str],
    ) -> dict[str, Result]:
        """Every server but Vault's ensured at once, each with the tenant's password."""
        passwords = {row.block: creds[row.password] for row in INTEGRATIONS if row.password}

        async def run(block: str, made: Provisioner) -> tuple[str, Result]:
            try:
                if isinstance(made, KeycloakProvisioner):
                    result = await made.ensure(
                        _tenant(context, block),
                        base_url=context["url"],
                        display_name=context["store"]["displayName"],
                        idp_secrets=idp_secrets,
                    )
                else:
                    result = await made.ensure(_tenant(context, block), passwords.get(block, ""))
            except Exception as exc:  # a provisioner bug must not crash the loop
                log.exception(
                    "provisioner of %s failed", block, extra={"store": context["store"]["name"]}
                )
                result = _failed(made, exc)
            return block, result

        return dict(
            await asyncio.gather(
                *(run(block, made) for block, made in served.items() if block != "secrets")
            )
        )

    def vault(self, context: StoreContext) -> VaultProvisioner | None:
        """The Store's Vault provisioner, when its secrets are kept in Vault."""
        made = self.served(context).get("secrets")
        return made if isinstance(made, VaultProvisioner) else None

    def keycloak(self, context: StoreContext) -> KeycloakProvisioner | None:
        """The Store's Keycloak provisioner, when it has a realm."""
        made = self.served(context).get("identity")
        return made if isinstance(made, KeycloakProvisioner) else None

    async def read_credentials(self, context: StoreContext) -> dict[str, str]:
        """The Store's generated credentials as last written; raises when Vault is down."""
        vault = self.vault(context)
        if vault is not None:
            return await vault.read_secret(_tenant(context), "credentials") or {}
        return _decode(
            await self.kube.get(_SECRET, context["namespace"], credentials.CREDENTIALS_SECRET)
        )

    def offline(self, context: StoreContext) -> Tenancy:
        """The templates' data without touching any system, for an offline render:
        credentials are shown as placeholders, the Vault role as configured."""
        creds = {name: "(generated)" for name in credentials.GENERATED}
        vault = self.served(context).get("secrets")
        assert vault is None or isinstance(vault, VaultProvisioner)
        env = credentials.runtime_env(creds, self._in_namespace_outputs(context, creds))
        return self._template(context, creds, env, vault=vault, blocked=False)

    def _unserved(
        self, block: str, integration: Mapping[str, Any], integrations: Mapping[str, Any]
    ) -> Condition:
        condition = integration["condition"]
        row = BY_BLOCK[block]
        if row.carrier is not None and integrations[row.carrier.block]["enabled"]:
            return Condition(condition, "True", row.carrier.reason, row.carrier.message)
        if not integration["enabled"]:
            return Condition(
                condition,
                "True",
                Reason.EMBEDDED_DEFAULT,
                f"spec.{block} is not enabled; the runtime uses its {integration['fallback']}",
            )
        reason, message = row.unserved
        if row.stand_in is not None:
            # Observed after the apply: True once the workload is available.
            return Condition(condition, "Unknown", Reason.DEPLOYING, f"deploying {message}")
        return Condition(condition, "True", reason, message)

    def in_namespace(self, context: StoreContext) -> list[str]:
        """Enabled blocks served by a stand-in in the tenant namespace."""
        plan = context["plan"].name
        return [
            row.block
            for row in INTEGRATIONS
            if row.stand_in is not None
            and context["integrations"][row.block]["enabled"]
            and self.provisioner(row.block, plan) is None
        ]

    def _in_namespace_outputs(
        self, context: StoreContext, creds: Mapping[str, str]
    ) -> dict[str, str]:
        namespace = context["namespace"]
        outputs = {}
        for block in self.in_namespace(context):
            row = BY_BLOCK[block]
            stand_in = row.stand_in
            assert stand_in is not None, block
            host = f"{stand_in.name}.{namespace}.svc"
            outputs[stand_in.setting] = stand_in.url(host, stand_in.port, creds[row.password or ""])
        return outputs

    def _template(
        self,
        context: StoreContext,
        creds: Mapping[str, str],
        env: Mapping[str, str],
        *,
        vault: VaultProvisioner | None,
        blocked: bool,
    ) -> Tenancy:
        in_namespace = self.in_namespace(context)
        own_env = credentials.service_env(creds) if creds else {}
        pod_env: dict[str, str] = {}
        service_paths: dict[str, str] = {}
        roles: dict[str, str] = {}
        if vault is not None:
            tenant = _tenant(context)
            pod_env = {
                "STOREFLEET_VAULT_ADDR": vault.url,
                "STOREFLEET_VAULT_AUTH_MOUNT": vault.auth_mount,
                "STOREFLEET_VAULT_KV_MOUNT": vault.kv_mount,
                "STOREFLEET_VAULT_SECRET_PATH": f"{secret_path(tenant)}/{SHARED_SECRET}",
                "STOREFLEET_VAULT_TOKEN_FILE": f"{VAULT_TOKEN_DIR}/token",
            }
            # Each service logs in with a role of its own, which reads the shared
            # settings and the service's own credentials (a path of their own) only.
            roles = {svc: vault.role_name(tenant, svc) for svc in SERVICE_NAMES}
            service_paths = {svc: f"{secret_path(tenant)}/{service_secret(svc)}" for svc in own_env}
        # With Vault, only the in-namespace stand-ins' passwords are in a Secret
        # (a container's env can come from a Secret, not from Vault).
        keys = [BY_BLOCK[block].password or "" for block in in_namespace]
        secret_creds = dict(creds) if vault is None else {k: creds[k] for k in keys if k in creds}
        return {
            # While Vault is unreachable nothing is re-rendered from credentials: the
            # Secrets and pod templates stay as they were instead of being emptied.
            "blocked": blocked,
            "credentials": secret_creds,
            "runtime_env": {} if vault is not None else dict(env),
            # Service -> its own secret environment, in a Secret only its pods read.
            "service_env": {} if vault is not None else own_env,
            "service_secrets": {svc: credentials.service_env_secret(svc) for svc in own_env},
            "vault_service_paths": service_paths,
            "vault_roles": roles,
            "pod_env": pod_env,
            "vault": vault is not None,
            "vault_audience": "vault",
            "vault_token_dir": VAULT_TOKEN_DIR,
            "checksum": credentials.checksum(env, own_env, pod_env, roles),
            "in_namespace": in_namespace,
            # Every pod of the store connects to the shared servers it is provisioned on.
            "egress": egress.of_servers(
                [
                    (
                        block,
                        BY_BLOCK[block].server_address(self.settings),
                        int(context["integrations"][block]["port"]),
                    )
                    for block in self.served(context)
                ]
            ),
        }

    async def delete(
        self, store: Mapping[str, Any], context: StoreContext
    ) -> list[tuple[str, Result]]:
        """Removes (or keeps, by deletionPolicy) each provisioned share; secrets last."""
        policy: DeletionPolicy = (store.get("spec") or {}).get("deletionPolicy", "Retain")
        served = self.served(context)
        done = []
        for row in TEARDOWN:
            block = row.block
            made = served.get(block)
            if made is None:
                continue
            try:
                result = await made.delete(_tenant(context, block), policy)
            except Exception as exc:  # reported and retried by the finalizer
                log.exception("deleting the %s share failed", block)
                result = _failed(made, exc)
            done.append((block, result))
        return done


def _tenant(context: StoreContext, block: str | None = None) -> Tenant:
    """The Store as a provisioner's tenant, with the settings of its block if one is named."""
    spec = context["integrations"][block]["settings"] if block is not None else {}
    return Tenant(store=context["store"]["name"], namespace=context["namespace"], spec=spec)


def _failed(made: Provisioner, exc: Exception) -> Result:
    """A provisioner that raised, as the False condition the reconcile reports."""
    return outcome(made.condition_type, Reason.PROVISIONER_FAILED, f"{type(exc).__name__}: {exc}")


async def run_vault(
    vault: VaultProvisioner,
    tenant: Tenant,
    creds: Mapping[str, str],
    env: Mapping[str, str],
    service_env: Mapping[str, Mapping[str, str]],
) -> tuple[str, Result]:
    secrets = {
        "credentials": dict(creds),
        SHARED_SECRET: dict(env),
        **{service_secret(service): dict(own) for service, own in service_env.items()},
    }
    try:
        result = await vault.ensure(tenant, secrets=secrets)
    except Exception as exc:  # reported as the condition
        result = vault.unavailable(exc)
    return "secrets", result


_SECRET: Final = kind_of("v1", "Secret")
