"""The Kafka bus logs in as the store's SCRAM user when it has one."""

from __future__ import annotations

from storefleet.operator import credentials
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.kafka import connection


def test_with_a_sasl_user_every_client_logs_in_with_scram() -> None:
    options = connection(
        EventsSettings(
            bootstrap_servers="k:9092", sasl_username="store-acme", sasl_password="s3cret"
        )
    )
    assert options == {
        "bootstrap_servers": "k:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "store-acme",
        "sasl_plain_password": "s3cret",
    }


def test_without_one_it_speaks_plaintext() -> None:
    options = connection(EventsSettings(bootstrap_servers="k:9092"))
    assert options == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_the_provisioners_kafka_login_reaches_the_runtimes_settings() -> None:
    creds = {"token-key": "(generated)"}
    env = credentials.runtime_env(
        creds,
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "KAFKA_SASL_USERNAME": "store-acme",
            "KAFKA_SASL_PASSWORD": "s3cret",
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        },
    )
    settings = EventsSettings(
        **{
            key.removeprefix("STOREFLEET_EVENTS_").lower(): value
            for key, value in env.items()
            if key.startswith("STOREFLEET_EVENTS_")
        }
    )
    assert connection(settings)["sasl_plain_username"] == "store-acme"
    assert connection(settings)["sasl_plain_password"] == "s3cret"
