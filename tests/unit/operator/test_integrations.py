from __future__ import annotations

import pytest

from storefleet.operator.integrations import configured, provisioner_for
from storefleet.operator.provisioners.kafka import KafkaProvisioner
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner
from storefleet.operator.provisioners.postgres import PostgresProvisioner
from storefleet.operator.provisioners.settings import ProvisionerSettings


def test_a_plain_cluster_configures_no_provisioner() -> None:
    settings = ProvisionerSettings()
    assert configured(settings) == []
    assert provisioner_for("database", settings, "small") is None


def test_settings_from_the_environment_pick_the_provisioners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREFLEET_OPERATOR_POSTGRES_DSN", "postgresql://admin:pw@db:5432/postgres")
    monkeypatch.setenv("STOREFLEET_OPERATOR_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("STOREFLEET_OPERATOR_KEYCLOAK_URL", "https://id.example.com")
    monkeypatch.setenv("STOREFLEET_OPERATOR_KEYCLOAK_USERNAME", "admin")
    settings = ProvisionerSettings()
    # Keycloak lacks its password: a half-configured system is not used.
    assert configured(settings) == ["database", "events"]
    assert isinstance(provisioner_for("database", settings, "small"), PostgresProvisioner)
    events = provisioner_for("events", settings, "large")
    assert isinstance(events, KafkaProvisioner)
    assert events.plan == "large"

    monkeypatch.setenv("STOREFLEET_OPERATOR_KEYCLOAK_PASSWORD", "secret-value")
    completed = ProvisionerSettings()
    assert isinstance(provisioner_for("identity", completed, "small"), KeycloakProvisioner)
    assert "secret-value" not in repr(completed), "passwords must not reach logs"
