"""The dev stack's Keycloak: a tenant realm is made through the admin API and a user logs in.

This is what the operator's identity provisioner will do for each Store: a
realm, a confidential client, a role and a user, then a token through the
realm's OIDC token endpoint that carries the role.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID
from keycloak.exceptions import KeycloakAuthenticationError

from storefleet.dev.components.keycloak import KeycloakAccess


@pytest.fixture
def realm(keycloak_admin: KeycloakAccess) -> Iterator[tuple[KeycloakAdmin, str]]:
    admin = keycloak_admin.admin()
    name = f"acme-{secrets.token_hex(4)}"
    admin.create_realm({"realm": name, "enabled": True})
    admin.change_current_realm(name)
    yield admin, name
    admin.change_current_realm("master")
    admin.delete_realm(name)


def test_a_user_of_a_new_realm_gets_a_token_with_its_role(
    keycloak_admin: KeycloakAccess, realm: tuple[KeycloakAdmin, str]
) -> None:
    admin, name = realm
    client_secret = secrets.token_urlsafe(24)
    admin.create_client(
        {
            "clientId": "storefront",
            "enabled": True,
            "publicClient": False,
            "secret": client_secret,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": True,
            "redirectUris": ["https://acme.shop.test/*"],
        }
    )
    admin.create_realm_role({"name": "store-owner"})
    password = secrets.token_urlsafe(16)
    user_id = admin.create_user(
        {
            "username": "owner",
            "email": "owner@acme.test",
            "firstName": "Ada",
            "lastName": "Owner",
            "emailVerified": True,
            "enabled": True,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
    )
    admin.assign_realm_roles(user_id, [admin.get_realm_role("store-owner")])

    oidc = KeycloakOpenID(
        server_url=keycloak_admin.url,
        realm_name=name,
        client_id="storefront",
        client_secret_key=client_secret,
    )
    token = oidc.token("owner", password)
    claims = oidc.decode_token(token["access_token"])
    assert claims["iss"] == f"{keycloak_admin.url}/realms/{name}"
    assert claims["preferred_username"] == "owner"
    assert "store-owner" in claims["realm_access"]["roles"]
    assert oidc.userinfo(token["access_token"])["email"] == "owner@acme.test"

    with pytest.raises(KeycloakAuthenticationError):
        oidc.token("owner", "not-the-password")
