"""Tokens, the role table, PKCE and redirects, without servers."""

from __future__ import annotations

import base64
import hashlib
import time

import jwt
import pytest

from storefleet.operator.provisioners.keycloak import REALM_ROLES
from storefleet.runtime.platform.identity.oidc import pkce_pair
from storefleet.runtime.platform.identity.permissions import PERMISSIONS, ROLES, allows, roles_for
from storefleet.runtime.platform.identity.roles import CALLERS
from storefleet.runtime.platform.identity.tokens import (
    Authenticator,
    AuthSettings,
    new_signing_key,
    public_key_of,
)
from storefleet.runtime.storefront.viewers import safe_next

SECRET = "unit-test-secret-long-enough-for-hs256"


def authenticator(**changes: object) -> Authenticator:
    return Authenticator(AuthSettings(jwt_secret=SECRET, issuer="storefleet:acme", **changes))


async def test_an_issued_token_comes_back_as_the_same_principal() -> None:
    auth = authenticator()
    token = auth.issue_access("u1", {"customer", "vendor-staff"}, email="a@b.test")
    principal = await auth.authenticate(token)
    assert principal is not None
    assert principal.subject == "u1"
    assert principal.roles == {"customer", "vendor-staff"}
    assert principal.realm == "storefleet:acme"
    assert principal.email == "a@b.test"


async def test_forged_foreign_expired_and_unsigned_tokens_are_refused() -> None:
    auth = authenticator(leeway_seconds=0)
    good = jwt.decode(
        auth.issue_access("u1", {"customer"}),
        SECRET,
        algorithms=["HS256"],
        audience="storefleet",
    )
    cases = {
        "other secret": jwt.encode(good, SECRET + "x", algorithm="HS256"),
        "other store": jwt.encode(good | {"iss": "storefleet:globex"}, SECRET),
        "expired": jwt.encode(good | {"exp": int(time.time()) - 5}, SECRET),
        "not an access token": jwt.encode(good | {"typ": "refresh"}, SECRET),
        "unsigned": jwt.encode(good, key=None, algorithm="none"),  # type: ignore[arg-type]
        "other audience": jwt.encode(good | {"aud": "elsewhere"}, SECRET),
        "garbage": "a.b.c",
    }
    for name, token in cases.items():
        assert await auth.authenticate(token) is None, name


async def test_with_a_key_pair_only_the_private_key_signs_and_hs256_is_refused() -> None:
    """In a cluster accounts holds the private key and every other service only
    the public half: they verify its tokens but can mint none, and a token signed
    with a shared secret (or any other key) no longer passes."""
    private = new_signing_key()
    signer = authenticator(jwt_private_key=private)
    verifier = Authenticator(
        AuthSettings(jwt_public_key=public_key_of(private), issuer="storefleet:acme")
    )
    token = signer.issue_access("u1", {"store-admin"})
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    principal = await verifier.authenticate(token)
    assert principal is not None
    assert principal.roles == {"store-admin"}
    assert not verifier.can_sign
    with pytest.raises(RuntimeError, match="PRIVATE_KEY"):
        verifier.issue_access("u2", {"store-admin"})
    # The shared secret the store had before (still accounts' own) signs nothing that passes.
    claims = jwt.decode(token, options={"verify_signature": False})
    assert await verifier.authenticate(jwt.encode(claims, SECRET, algorithm="HS256")) is None
    assert await signer.authenticate(jwt.encode(claims, SECRET, algorithm="HS256")) is None
    other = authenticator(jwt_private_key=new_signing_key())
    assert await verifier.authenticate(other.issue_access("u1", {"store-admin"})) is None


def test_a_key_that_is_not_ed25519_stops_the_service_at_start() -> None:
    with pytest.raises(ValueError, match="PRIVATE_KEY"):
        Authenticator(AuthSettings(jwt_private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n"))


async def test_unknown_roles_in_a_token_grant_nothing() -> None:
    auth = authenticator()
    principal = await auth.authenticate(auth.issue_access("u1", {"root", "customer"}))
    assert principal is not None
    assert principal.roles == {"customer"}


def test_a_keycloak_token_of_another_client_is_refused() -> None:
    auth = Authenticator(AuthSettings(oidc_issuer="http://kc/realms/store-acme"))
    claims = {
        "sub": "s",
        "exp": time.time() + 60,
        "azp": "storefront",
        "realm_access": {"roles": ["customer", "offline_access"]},
    }
    principal = auth.principal_from_oidc(claims)
    assert principal is not None
    assert principal.roles == {"customer"}
    assert principal.realm == "store-acme"
    assert auth.principal_from_oidc(claims | {"azp": "some-other-app"}) is None


def test_the_role_table_covers_the_realm_roles_and_names_only_known_roles() -> None:
    assert set(REALM_ROLES) <= set(ROLES)
    for permission, roles in PERMISSIONS.items():
        assert roles, permission
        # A sign-in's roles, or a caller service's (granted by its token, never a sign-in's).
        assert roles <= set(ROLES) | set(CALLERS.values()), permission
        assert roles & set(ROLES), f"{permission}: no person could ever be granted it"
    assert allows({"store-admin"}, "catalog:write")
    assert not allows({"customer"}, "catalog:write")
    assert not allows({"support"}, "customers:manage")
    with pytest.raises(ValueError, match="unknown permission"):
        roles_for("catalog:delete-everything")


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    verifier, challenge = pkce_pair()
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(verifier) <= 128


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/addresses", "/account/addresses"),
        ("/admin?x=1", "/admin?x=1"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("", "/account"),
        (None, "/account"),
    ],
)
def test_sign_in_only_returns_to_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
