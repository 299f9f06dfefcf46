"""Each Store gets its own Keycloak realm: clients, roles, OTP policy, social logins."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID
from keycloak.exceptions import KeycloakAuthenticationError, KeycloakError

from storefleet.dev.components.keycloak import KeycloakAccess
from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.keycloak import (
    CLIENTS,
    REALM_ROLES,
    KeycloakProvisioner,
    realm_name,
)

CREATED: list[Tenant] = []


@pytest.fixture
async def provisioner(keycloak_admin: KeycloakAccess) -> AsyncIterator[KeycloakProvisioner]:
    made = KeycloakProvisioner(keycloak_admin.url, keycloak_admin.username, keycloak_admin.password)
    yield made
    while CREATED:
        await made.delete(CREATED.pop(), "Delete")


def realm_admin(access: KeycloakAccess, realm: str) -> KeycloakAdmin:
    """An admin client working in `realm`, logged in through master."""
    return KeycloakAdmin(
        server_url=access.url,
        username=access.username,
        password=access.password,
        realm_name=realm,
        user_realm_name="master",
    )


def tenant(**identity: object) -> Tenant:
    who = Tenant(store=f"acme-{secrets.token_hex(3)}", namespace="unused", spec=identity)
    CREATED.append(who)
    return who


async def test_a_store_gets_a_realm_with_its_clients_roles_and_policy(
    provisioner: KeycloakProvisioner, keycloak_admin: KeycloakAccess
) -> None:
    who = tenant(
        otp="Required",
        identityProviders=[{"alias": "google", "type": "google", "clientId": "shop.apps"}],
    )
    result = await provisioner.ensure(
        who,
        base_url="https://acme.shop.test",
        display_name="Acme Outdoor",
        idp_secrets={"google": secrets.token_urlsafe(12)},
    )
    assert result.ok, result.condition
    assert result.outputs["OIDC_ISSUER"].endswith(f"/realms/{realm_name(who)}")
    assert result.outputs["OIDC_STOREFRONT_SECRET"]

    admin = realm_admin(keycloak_admin, realm_name(who))
    assert admin.get_realm(realm_name(who))["displayName"] == "Acme Outdoor"
    assert set(REALM_ROLES) <= {role["name"] for role in admin.get_realm_roles()}
    assert set(CLIENTS) <= {client["clientId"] for client in admin.get_clients()}
    totp = admin.get_required_action_by_alias("CONFIGURE_TOTP")
    assert totp["enabled"]
    assert totp["defaultAction"], "OTP Required: every new account must set up a second factor"
    assert [idp["alias"] for idp in admin.get_idps()] == ["google"]


async def test_ensure_again_keeps_client_secrets_and_applies_changes(
    provisioner: KeycloakProvisioner, keycloak_admin: KeycloakAccess
) -> None:
    who = tenant(otp="Required")
    first = await provisioner.ensure(who)
    relaxed = Tenant(who.store, who.namespace, {"otp": "Off"})
    second = await provisioner.ensure(relaxed)
    assert second.ok
    assert second.outputs == first.outputs
    admin = realm_admin(keycloak_admin, realm_name(who))
    assert not admin.get_required_action_by_alias("CONFIGURE_TOTP")["enabled"]


async def test_a_user_of_one_store_cannot_sign_in_to_another(
    provisioner: KeycloakProvisioner, keycloak_admin: KeycloakAccess
) -> None:
    acme, globex = tenant(otp="Off"), tenant(otp="Off")
    acme_result = await provisioner.ensure(acme)
    globex_result = await provisioner.ensure(globex)
    assert acme_result.ok
    assert globex_result.ok

    admin = realm_admin(keycloak_admin, realm_name(acme))
    password = secrets.token_urlsafe(16)
    admin.create_user(
        {
            "username": "ada",
            "email": "ada@acme.test",
            "firstName": "Ada",
            "lastName": "Shopper",
            "emailVerified": True,
            "enabled": True,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
    )
    client_id = admin.get_client_id("storefront")
    admin.update_client(client_id, {"directAccessGrantsEnabled": True})
    other = realm_admin(keycloak_admin, realm_name(globex))
    other.update_client(other.get_client_id("storefront"), {"directAccessGrantsEnabled": True})

    at_acme = KeycloakOpenID(
        server_url=keycloak_admin.url,
        realm_name=realm_name(acme),
        client_id="storefront",
        client_secret_key=acme_result.outputs["OIDC_STOREFRONT_SECRET"],
    )
    assert at_acme.token("ada", password)["access_token"]

    at_globex = KeycloakOpenID(
        server_url=keycloak_admin.url,
        realm_name=realm_name(globex),
        client_id="storefront",
        client_secret_key=globex_result.outputs["OIDC_STOREFRONT_SECRET"],
    )
    with pytest.raises(KeycloakAuthenticationError):
        at_globex.token("ada", password)


async def test_delete_removes_the_realm_and_retain_keeps_it(
    provisioner: KeycloakProvisioner,
) -> None:
    kept, gone = tenant(), tenant()
    for who in (kept, gone):
        assert (await provisioner.ensure(who)).ok
    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    assert (await provisioner.describe(kept)).ok
    assert (await provisioner.delete(gone, "Delete")).condition.reason == "Deleted"
    assert (await provisioner.describe(gone)).condition.reason == "Missing"


async def test_an_unreachable_keycloak_is_a_condition_not_a_crash() -> None:
    down = KeycloakProvisioner("http://127.0.0.1:1", "admin", "wrong", timeout=3)
    try:
        result = await down.ensure(tenant())
    except KeycloakError as exc:  # pragma: no cover - the assertion below explains
        pytest.fail(f"ensure raised instead of reporting: {exc!r}")
    assert result.condition.status == "False"
    assert result.condition.reason == "KeycloakUnavailable"
