"""Kopf's own settings, set for a long-running operator from STOREFLEET_OPERATOR_*."""

from __future__ import annotations

import kopf

from storefleet.operator.selection import KOPF_PREFIX, finalizer_for
from storefleet.operator.settings import OperatorSettings


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    """Kopf's knobs, set for a long-running operator (see OPERATOR-NOTES.md)."""
    persistence = kopf_settings.persistence
    # Progress in annotations, not status: our status schema is ours. Kopf ignores
    # changes to annotations under its prefix, so it must not be storefleet.io, or
    # storefleet.io/reconcile-request would not trigger anything.
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    persistence.finalizer = finalizer_for(settings.store_selector)
    watching = kopf_settings.watching
    watching.server_timeout = settings.watch_server_timeout_seconds
    watching.client_timeout = settings.watch_client_timeout_seconds
    watching.connect_timeout = settings.connect_timeout_seconds
    kopf_settings.networking.connect_timeout = settings.connect_timeout_seconds
    kopf_settings.networking.request_timeout = settings.request_timeout_seconds
    kopf_settings.networking.enforce_retry_after = True
    kopf_settings.queueing.worker_limit = settings.worker_limit
    # We post our own Events, one per transition; Kopf's per-handler ones are noise.
    kopf_settings.posting.enabled = False
    kopf_settings.peering.standalone = settings.standalone
    kopf_settings.peering.priority = settings.peering_priority
    kopf_settings.peering.clusterwide = True
    kopf_settings.peering.name = settings.peering_name
    # Without its peering object Kopf would quietly run every replica as the
    # active one: with peering asked for, its absence is an error.
    kopf_settings.peering.mandatory = not settings.standalone
