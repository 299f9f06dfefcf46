"""Keycloak: a realm per Store, with its clients, roles, OTP policy and social logins.

The realm is the tenant's whole identity boundary: shoppers, staff and vendors
of one Store cannot sign in to another's. Clients are confidential (the
storefront, admin console and vendor portal render on the server); Keycloak
generates their secrets and `ensure` hands them back for the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from storefleet.operator.provisioners.base import DeletionPolicy, Result, Tenant, outcome
from storefleet.operator.vocabulary import ConditionType, Reason

CONDITION = ConditionType.IDENTITY
REALM_ROLES: Final = ("customer", "store-admin", "vendor-admin", "vendor-staff", "support")
# client id -> the path under the store's URL it serves
CLIENTS: Final[Mapping[str, str]] = {
    "storefront": "/",
    "admin-console": "/admin/",
    "vendor-portal": "/vendor/",
}
# spec.identity.otp -> Keycloak's CONFIGURE_TOTP required action (enabled, default for new users)
OTP_ACTION: Final[Mapping[str, tuple[bool, bool]]] = {
    "Off": (False, False),
    "Optional": (True, False),
    "Required": (True, True),
}
IDP_PROVIDER: Final = {"google": "google", "github": "github", "oidc": "oidc"}
# The vendor a user works for, as the token claim the runtime reads. The value is the
# attribute of the user's vendor group (Keycloak resolves user attributes through groups).
VENDOR_MAPPER: Final = {
    "name": "vendor_id",
    "protocol": "openid-connect",
    "protocolMapper": "oidc-usermodel-attribute-mapper",
    "config": {
        "user.attribute": "vendor_id",
        "claim.name": "vendor_id",
        "jsonType.label": "String",
        "aggregate.attrs": "false",
        "multivalued": "false",
        "access.token.claim": "true",
        "id.token.claim": "true",
        "userinfo.token.claim": "true",
    },
}


def realm_name(tenant: Tenant) -> str:
    return f"store-{tenant.store}"


class KeycloakProvisioner:
    condition_type = CONDITION

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.timeout = timeout

    def admin(self, realm: str) -> KeycloakAdmin:
        """An admin client working in one realm (logged in through master)."""
        return self._admin(realm)

    def _admin(self, realm: str) -> KeycloakAdmin:
        # One client per call: a shared one would switch realms under concurrent reconciles.
        return KeycloakAdmin(
            server_url=self.url,
            username=self.username,
            password=self.password,
            realm_name=realm,
            user_realm_name="master",
            timeout=int(self.timeout),
        )

    async def ensure(
        self,
        tenant: Tenant,
        password: str = "",
        *,
        base_url: str = "",
        display_name: str = "",
        idp_secrets: Mapping[str, str] | None = None,
    ) -> Result:
        realm = realm_name(tenant)
        otp = str(tenant.spec.get("otp", "Optional"))
        try:
            master = self._admin("master")
            existing = {r["realm"] for r in await master.a_get_realms()}
            settings = {
                "realm": realm,
                "enabled": True,
                "displayName": display_name or tenant.store,
                # Shoppers sign themselves up and reset their own passwords.
                "registrationAllowed": True,
                "loginWithEmailAllowed": True,
                "resetPasswordAllowed": True,
            }
            if realm in existing:
                await master.a_update_realm(realm, settings)
            else:
                await master.a_create_realm(settings)
            admin = self._admin(realm)
            await self._roles(admin)
            secrets = await self._clients(admin, base_url)
            await self._otp(admin, otp)
            await self._identity_providers(admin, tenant, idp_secrets or {})
        except KeycloakError as exc:
            return _failed(exc)
        except OSError as exc:
            return outcome(CONDITION, Reason.KEYCLOAK_UNAVAILABLE, str(exc))
        outputs = {
            "OIDC_ISSUER": f"{self.url.rstrip('/')}/realms/{realm}",
            **{f"OIDC_{cid.upper().replace('-', '_')}_SECRET": s for cid, s in secrets.items()},
        }
        message = f"realm {realm} with {len(CLIENTS)} clients, {len(REALM_ROLES)} roles, OTP {otp}"
        return outcome(CONDITION, Reason.PROVISIONED, message, outputs)

    async def _roles(self, admin: KeycloakAdmin) -> None:
        present = {role["name"] for role in await admin.a_get_realm_roles()}
        for role in REALM_ROLES:
            if role not in present:
                await admin.a_create_realm_role({"name": role}, skip_exists=True)

    async def _clients(self, admin: KeycloakAdmin, base_url: str) -> dict[str, str]:
        secrets: dict[str, str] = {}
        for client_id, path in CLIENTS.items():
            representation: dict[str, Any] = {
                "clientId": client_id,
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [f"{base_url.rstrip('/')}{path}*"] if base_url else [],
                "webOrigins": ["+"],
            }
            internal_id = await admin.a_get_client_id(client_id)
            if internal_id is None:
                internal_id = await admin.a_create_client(representation, skip_exists=True)
            else:
                await admin.a_update_client(internal_id, representation)
            mappers = {m["name"] for m in await admin.a_get_mappers_from_client(internal_id)}
            if VENDOR_MAPPER["name"] not in mappers:
                await admin.a_add_mapper_to_client(internal_id, VENDOR_MAPPER)
            secrets[client_id] = (await admin.a_get_client_secrets(internal_id))["value"]
        return secrets

    async def _otp(self, admin: KeycloakAdmin, otp: str) -> None:
        enabled, default = OTP_ACTION[otp]
        action = await admin.a_get_required_action_by_alias("CONFIGURE_TOTP")
        if action is None:
            return
        await admin.a_update_required_action(
            "CONFIGURE_TOTP", {**action, "enabled": enabled, "defaultAction": default}
        )

    async def _identity_providers(
        self, admin: KeycloakAdmin, tenant: Tenant, idp_secrets: Mapping[str, str]
    ) -> None:
        wanted = tenant.spec.get("identityProviders") or []
        present = {idp["alias"] for idp in await admin.a_get_idps()}
        for idp in wanted if isinstance(wanted, list) else []:
            config: dict[str, str] = {
                "clientId": idp["clientId"],
                "clientSecret": idp_secrets.get(idp["alias"], ""),
                "syncMode": "IMPORT",
            }
            if idp.get("issuer"):
                config["issuer"] = idp["issuer"]
            representation = {
                "alias": idp["alias"],
                "providerId": IDP_PROVIDER[idp["type"]],
                "enabled": True,
                "trustEmail": True,
                "config": config,
            }
            if idp["alias"] in present:
                await admin.a_update_idp(idp["alias"], representation)
            else:
                await admin.a_create_idp(representation)

    async def describe(self, tenant: Tenant) -> Result:
        try:
            realms = {r["realm"] for r in await self._admin("master").a_get_realms()}
        except KeycloakError as exc:
            return _failed(exc)
        except OSError as exc:
            return outcome(CONDITION, Reason.KEYCLOAK_UNAVAILABLE, str(exc))
        if realm_name(tenant) in realms:
            return outcome(CONDITION, Reason.PROVISIONED, f"realm {realm_name(tenant)}")
        return outcome(CONDITION, Reason.MISSING, f"no realm {realm_name(tenant)}")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        realm = realm_name(tenant)
        if policy == "Retain":
            return outcome(CONDITION, Reason.RETAINED, f"deletionPolicy Retain: realm {realm} kept")
        try:
            master = self._admin("master")
            if realm in {r["realm"] for r in await master.a_get_realms()}:
                await master.a_delete_realm(realm)
        except KeycloakError as exc:
            return _failed(exc)
        except OSError as exc:
            return outcome(CONDITION, Reason.KEYCLOAK_UNAVAILABLE, str(exc))
        return outcome(CONDITION, Reason.DELETED, f"realm {realm} deleted")


def _failed(exc: KeycloakError) -> Result:
    code = getattr(exc, "response_code", None)
    reason = Reason.KEYCLOAK_UNAVAILABLE if code is None or code >= 500 else Reason.KEYCLOAK_REFUSED
    detail = getattr(exc, "error_message", "") or str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return outcome(CONDITION, reason, str(detail)[:500])
