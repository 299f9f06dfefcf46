"""One switch decides whether a runtime may run open: ``development_mode``."""

from __future__ import annotations

import pytest

from storefleet.runtime.platform.config.settings import (
    DevelopmentModeRefused,
    configured_credentials,
    development_mode,
)

POD = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}


def test_a_laptop_without_credentials_runs_open() -> None:
    assert development_mode({})
    assert development_mode({"STOREFLEET_DEVELOPMENT_MODE": "auto", "HOME": "/home/dev"})


@pytest.mark.parametrize(
    "name",
    [
        "STOREFLEET_AUTH_JWT_SECRET",
        "STOREFLEET_AUTH_JWT_PRIVATE_KEY",
        "STOREFLEET_CATALOG_CALLER_TOKENS",
        "STOREFLEET_CATALOG_ADMIN_TOKEN",
        "STOREFLEET_ORDERS_PAYMENTS_TOKEN",
        "STOREFLEET_PAYMENTS_STRIPE_API_KEY",
        "STOREFLEET_ACCOUNTS_SECRETS_KEY",
        "STOREFLEET_NOTIFICATIONS_SMTP_PASSWORD",
        "STOREFLEET_AUTH_OIDC_ISSUER",
    ],
)
def test_any_credential_closes_it_unless_asked_for(name: str) -> None:
    assert configured_credentials({name: "x"}) == [name]
    assert not development_mode({name: "x"})
    assert development_mode({name: "x", "STOREFLEET_DEVELOPMENT_MODE": "true"})
    # An empty setting is no credential.
    assert development_mode({name: " "})


def test_it_can_be_switched_off_on_a_laptop() -> None:
    assert not development_mode({"STOREFLEET_DEVELOPMENT_MODE": "false"})


def test_a_pod_never_runs_open_and_refuses_to_be_told_to() -> None:
    assert not development_mode(POD)
    assert not development_mode(POD | {"STOREFLEET_DEVELOPMENT_MODE": "false"})
    with pytest.raises(DevelopmentModeRefused):
        development_mode(POD | {"STOREFLEET_DEVELOPMENT_MODE": "true"})


def test_a_misspelt_value_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="auto, true or false"):
        development_mode({"STOREFLEET_DEVELOPMENT_MODE": "sometimes"})
