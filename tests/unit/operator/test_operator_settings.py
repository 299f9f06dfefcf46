"""Operator settings come from STOREFLEET_OPERATOR_* and configure Kopf as documented."""

from __future__ import annotations

import kopf
import pytest

from storefleet.operator.kopf_config import configure_kopf
from storefleet.operator.selection import (
    FINALIZER,
    finalizer_for,
    selector_labels,
)
from storefleet.operator.settings import OperatorSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREFLEET_OPERATOR_DRIFT_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("STOREFLEET_OPERATOR_STORE_SELECTOR", "team=a")
    settings = OperatorSettings()
    assert settings.drift_interval_seconds == 5.0
    assert settings.store_selector == "team=a"


def test_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREFLEET_OPERATOR_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        OperatorSettings()


def test_store_selector_is_parsed_into_labels() -> None:
    assert selector_labels("") is None
    assert selector_labels("a=b, c=d") == {"a": "b", "c": "d"}


def test_instances_with_different_selectors_keep_different_finalizers() -> None:
    # Kopf strips its finalizer from objects its filters do not match: a shared name
    # would let one instance undo another's.
    assert finalizer_for("") == FINALIZER
    shard_a, shard_b = finalizer_for("shard=a"), finalizer_for("shard=b")
    assert len({FINALIZER, shard_a, shard_b}) == 3
    assert finalizer_for("x=1, shard=a") == finalizer_for("shard=a,x=1")
    assert shard_a.startswith("storefleet.io/finalizer-")
    assert len(shard_a.split("/", 1)[1]) <= 63


def test_kopf_is_configured_for_a_long_running_operator() -> None:
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, OperatorSettings())
    assert kopf_settings.watching.server_timeout == 300
    assert kopf_settings.watching.client_timeout == 330
    assert kopf_settings.queueing.worker_limit == 200
    assert kopf_settings.networking.enforce_retry_after is True
    assert kopf_settings.persistence.finalizer == FINALIZER
    # progress in annotations, not under storefleet.io/ (Kopf would ignore those changes)
    assert isinstance(kopf_settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert kopf_settings.persistence.progress_storage.prefix == "kopf.storefleet.io"


def test_replicas_with_peering_refuse_to_start_without_their_peering_object() -> None:
    """Kopf would otherwise run each replica as the active one when the object is missing."""
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, OperatorSettings(standalone=False, peering_name="sf-operator"))
    assert kopf_settings.peering.standalone is False
    assert kopf_settings.peering.mandatory is True
    assert kopf_settings.peering.name == "sf-operator"
    alone = kopf.OperatorSettings()
    configure_kopf(alone, OperatorSettings())
    assert (alone.peering.standalone, alone.peering.mandatory) == (True, False)
