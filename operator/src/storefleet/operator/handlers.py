"""Kopf handlers: every trigger about a Store calls the one reconcile.

Handlers are registered on a registry built from settings, so intervals and
timeouts come from STOREFLEET_OPERATOR_* rather than import-time constants, and
tests can run an operator with their own settings.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from storefleet.operator.desired import GROUP, MANAGED_BY, MANAGED_BY_LABEL, STORE_LABEL, VERSION
from storefleet.operator.kube import Kube
from storefleet.operator.reconcile import ReconcileError, Reconciler
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.vendors import VendorReconciler

log = logging.getLogger("storefleet.operator.handlers")

FINALIZER = "storefleet.io/finalizer"
KOPF_PREFIX = "kopf.storefleet.io"
# How long one run of the delete handler waits for the namespace before handing back to Kopf.
NAMESPACE_WAIT_SECONDS = 60.0
NAMESPACE_POLL_SECONDS = 2.0
# Changes to owned objects arrive in bursts (a rollout touches a Deployment many
# times); one reconcile per burst is enough.
POKE_DELAY_SECONDS = 1.0
# First retry of a failed reconcile; retries after an external system failed double from here.
RETRY_SECONDS = 5.0


@dataclass
class State:
    settings: OperatorSettings
    api: client.ApiClient | None = None
    reconciler: Reconciler | None = None
    vendors: VendorReconciler | None = None
    # store name -> whether the pending reconcile must apply (True) or only observe
    pending: dict[str, bool] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Set by the cleanup handler: Kopf still fires timers while it shuts down.
    stopping: bool = False

    def require(self) -> Reconciler:
        if self.reconciler is None:
            raise kopf.TemporaryError("the operator is still starting", delay=1)
        return self.reconciler


async def _api_client(settings: OperatorSettings) -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    api = client.ApiClient()
    return api


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


def finalizer_for(selector: str) -> str:
    """The finalizer of an operator instance: its own when it serves a selector.

    Kopf removes its finalizer from objects its filters no longer match, so
    instances sharing one name (a sharded fleet, two test runs) would strip each
    other's from the Stores they do not serve and let those go uncleaned."""
    wanted = selector_labels(selector)
    if wanted is None:
        return FINALIZER
    canonical = ",".join(f"{key}={value}" for key, value in sorted(wanted.items()))
    return f"{FINALIZER}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def selector_labels(selector: str) -> dict[str, str] | None:
    """ "a=b,c=d" -> {"a": "b", "c": "d"}; "" -> None (every Store)."""
    if not selector.strip():
        return None
    pairs = (part.split("=", 1) for part in selector.split(",") if part.strip())
    return {key.strip(): value.strip() for key, value in pairs}


def build_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    state = State(settings=settings)
    stores = (GROUP, VERSION, "stores")
    # Only the Stores this operator instance is responsible for (all of them by default).
    selected = selector_labels(settings.store_selector)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In-cluster service account first, else the kubeconfig (KUBECONFIG).
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, state.settings)
        state.api = await _api_client(state.settings)
        kube = Kube(
            state.api,
            request_timeout=state.settings.request_timeout_seconds,
            discovery_ttl=state.settings.discovery_ttl_seconds,
        )
        state.reconciler = Reconciler(kube, state.settings)
        state.vendors = VendorReconciler(kube, state.settings, state.reconciler.provisioning)
        log.info("operator started", extra={"settings": state.settings.model_dump(mode="json")})

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        state.stopping = True
        for task in list(state.tasks):
            task.cancel()
        if state.vendors is not None:
            await state.vendors.http.aclose()
        if state.api is not None:
            await state.api.close()

    async def run(body: Mapping[str, Any], trigger: str, retry: int = 0) -> None:
        if body["metadata"].get("deletionTimestamp") or state.stopping:
            return
        try:
            await state.require().reconcile(body, trigger)
        except ReconcileError as exc:
            if exc.retriable:
                raise kopf.TemporaryError(str(exc), delay=retry_delay(exc, retry)) from exc
            raise kopf.PermanentError(str(exc)) from exc

    def retry_delay(exc: ReconcileError, retry: int) -> float:
        return backoff(retry) if exc.backoff else RETRY_SECONDS

    def backoff(retry: int) -> float:
        """Doubling from RETRY_SECONDS, for an external system that keeps failing."""
        delay: float = RETRY_SECONDS * 2 ** min(retry, 16)
        return min(delay, state.settings.provision_retry_max_seconds)

    @kopf.on.resume(*stores, labels=selected, registry=registry)
    async def resumed(body: kopf.Body, retry: int, **_: Any) -> None:
        await run(body, "resume", retry)

    @kopf.on.create(*stores, labels=selected, registry=registry)
    async def created(body: kopf.Body, retry: int, **_: Any) -> None:
        await run(body, "create", retry)

    @kopf.on.update(*stores, labels=selected, registry=registry)
    async def updated(body: kopf.Body, retry: int, **_: Any) -> None:
        await run(body, "update", retry)

    @kopf.timer(
        *stores,
        interval=settings.drift_interval_seconds,
        initial_delay=settings.drift_interval_seconds,
        errors=kopf.ErrorsMode.IGNORED,
        labels=selected,
        registry=registry,
    )
    async def drift(body: kopf.Body, **_: Any) -> None:
        await run(body, "timer")

    @kopf.on.delete(*stores, labels=selected, registry=registry)
    async def deleted(body: kopf.Body, retry: int, **_: Any) -> None:
        reconciler = state.require()
        deadline = asyncio.get_running_loop().time() + NAMESPACE_WAIT_SECONDS
        try:
            if await reconciler.finalize(body):
                return
        except ReconcileError as exc:
            # The finalizer stays until every system let go of the tenant's data.
            raise kopf.TemporaryError(str(exc), delay=retry_delay(exc, retry)) from exc
        # Namespaces take seconds to minutes to go; poll gently, many may be going at once.
        while not await reconciler.namespace_gone(body["metadata"]["name"]):
            if asyncio.get_running_loop().time() > deadline:
                raise kopf.TemporaryError("waiting for the tenant namespace to go away", delay=5)
            await asyncio.sleep(NAMESPACE_POLL_SECONDS)

    # Vendors are selected by their own labels, as Stores are.
    vendors = (GROUP, VERSION, "vendors")

    async def reconcile_vendor(body: Mapping[str, Any], retry: int) -> None:
        if body["metadata"].get("deletionTimestamp") or state.stopping:
            return
        state.require()
        assert state.vendors is not None
        outcome = await state.vendors.reconcile(body)
        if outcome.retry:
            raise kopf.TemporaryError(
                f"vendor {outcome.status['phase']}: {outcome.reason}", delay=backoff(retry)
            )

    @kopf.on.resume(*vendors, labels=selected, registry=registry)
    @kopf.on.create(*vendors, labels=selected, registry=registry)
    @kopf.on.update(*vendors, labels=selected, registry=registry)
    async def vendor_changed(body: kopf.Body, retry: int, **_: Any) -> None:
        await reconcile_vendor(body, retry)

    @kopf.timer(
        *vendors,
        interval=settings.drift_interval_seconds,
        initial_delay=settings.drift_interval_seconds,
        errors=kopf.ErrorsMode.IGNORED,
        labels=selected,
        registry=registry,
    )
    async def vendor_drift(body: kopf.Body, **_: Any) -> None:
        await reconcile_vendor(body, 0)

    @kopf.on.delete(*vendors, labels=selected, registry=registry)
    async def vendor_deleted(body: kopf.Body, retry: int, **_: Any) -> None:
        state.require()
        assert state.vendors is not None
        failed = await state.vendors.offboard(body)
        if failed:
            raise kopf.TemporaryError("offboarding: " + "; ".join(failed), delay=backoff(retry))

    if settings.watch_owned_objects:

        @kopf.on.event(
            "apps", "v1", "deployments", labels={MANAGED_BY_LABEL: MANAGED_BY}, registry=registry
        )
        async def owned_deployment(body: kopf.Body, type: str | None, **_: Any) -> None:
            store_name = body["metadata"].get("labels", {}).get(STORE_LABEL)
            if not store_name or state.reconciler is None:
                return
            # Most events are the Deployment's own status moving: observing is enough.
            # A deletion or someone else's spec edit needs the full apply.
            full = type == "DELETED" or state.reconciler.applier.changed_since_applied(body)
            poke(store_name, full)

    def poke(store_name: str, full: bool) -> None:
        if store_name in state.pending:
            state.pending[store_name] = state.pending[store_name] or full
            return
        state.pending[store_name] = full
        task = asyncio.get_running_loop().create_task(_poked(store_name))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    def mine(store: Mapping[str, Any]) -> bool:
        """Whether this operator's selector picks the Store (Deployments are watched
        for every Store; another operator instance may own this one)."""
        if selected is None:
            return True
        labels = store["metadata"].get("labels") or {}
        return all(labels.get(key) == value for key, value in selected.items())

    async def _poked(store_name: str) -> None:
        await asyncio.sleep(POKE_DELAY_SECONDS)
        full = state.pending.pop(store_name, True)
        reconciler = state.require()
        try:
            store = await reconciler.kube.get_store(store_name)
            if store is None or store["metadata"].get("deletionTimestamp") or not mine(store):
                return
            if full:
                await reconciler.reconcile(store, "owned-change")
            else:
                await reconciler.refresh(store_name)
        except ReconcileError as exc:
            # Status and Events already say it; the Store's own handlers retry.
            log.info("reconcile after an owned object changed: %s", exc)
        except Exception:
            log.exception("reconcile after an owned object changed failed")

    return registry
