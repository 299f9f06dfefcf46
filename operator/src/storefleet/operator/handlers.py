"""Kopf handlers: every trigger about a Store calls the one reconcile.

The handlers are module-level functions; what they share lives in Kopf's memo
(`memo.py`). `build_registry` attaches them to a registry with the filters and
intervals of the operator's settings (STOREFLEET_OPERATOR_*), so tests can run
an operator with their own settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Final

import kopf

from storefleet.operator.desired import GROUP, MANAGED_BY, MANAGED_BY_LABEL, STORE_LABEL, VERSION
from storefleet.operator.errors import ReconcileError
from storefleet.operator.kopf_config import configure_kopf
from storefleet.operator.kube import Kube, api_client
from storefleet.operator.memo import OperatorState, state_of
from storefleet.operator.reconcile import Reconciler
from storefleet.operator.selection import picks, selector_labels
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.vendors import VendorReconciler

log = logging.getLogger("storefleet.operator.handlers")

STORES: Final = (GROUP, VERSION, "stores")
VENDORS: Final = (GROUP, VERSION, "vendors")
# How long one run of the delete handler waits for the namespace before handing back to Kopf.
NAMESPACE_WAIT_SECONDS: Final = 60.0
NAMESPACE_POLL_SECONDS: Final = 2.0
# Changes to owned objects arrive in bursts (a rollout touches a Deployment many
# times); one reconcile per burst is enough.
POKE_DELAY_SECONDS: Final = 1.0


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # In-cluster service account first, else the kubeconfig (KUBECONFIG).
    return kopf.login_via_client(**kwargs)


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    state = state_of(memo)
    configure_kopf(settings, state.settings)
    state.api = await api_client()
    kube = Kube(
        state.api,
        request_timeout=state.settings.request_timeout_seconds,
        discovery_ttl=state.settings.discovery_ttl_seconds,
    )
    state.reconciler = reconciler = Reconciler(kube, state.settings)
    state.vendors = VendorReconciler(kube, state.settings, reconciler.provisioning)
    log.info("operator started", extra={"settings": state.settings.model_dump(mode="json")})


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    state = state_of(memo)
    state.stopping = True
    for task in list(state.tasks):
        task.cancel()
    if state.vendors is not None:
        await state.vendors.http.aclose()
    if state.api is not None:
        await state.api.close()


# Stores


async def store_changed(
    body: kopf.Body, reason: str, retry: int, memo: kopf.Memo, **_: Any
) -> None:
    """Created, updated, or found again when the operator starts."""
    await _reconcile(state_of(memo), body, str(reason), retry)


async def store_drift(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _reconcile(state_of(memo), body, "timer", 0)


async def store_deleted(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    state = state_of(memo)
    reconciler = state.require()
    deadline = asyncio.get_running_loop().time() + NAMESPACE_WAIT_SECONDS
    try:
        if await reconciler.finalize(body):
            return
    except ReconcileError as exc:
        # The finalizer stays until every system let go of the tenant's data.
        raise kopf.TemporaryError(str(exc), delay=state.retry_delay(exc, retry)) from exc
    # Namespaces take seconds to minutes to go; poll gently, many may be going at once.
    while not await reconciler.namespace_gone(body["metadata"]["name"]):
        if asyncio.get_running_loop().time() > deadline:
            raise kopf.TemporaryError("waiting for the tenant namespace to go away", delay=5)
        await asyncio.sleep(NAMESPACE_POLL_SECONDS)


async def _reconcile(
    state: OperatorState, body: Mapping[str, Any], trigger: str, retry: int
) -> None:
    if body["metadata"].get("deletionTimestamp") or state.stopping:
        return
    try:
        await state.require().reconcile(body, trigger)
    except ReconcileError as exc:
        if exc.retriable:
            raise kopf.TemporaryError(str(exc), delay=state.retry_delay(exc, retry)) from exc
        raise kopf.PermanentError(str(exc)) from exc


# Vendors


async def vendor_changed(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    await _reconcile_vendor(state_of(memo), body, retry)


async def vendor_drift(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _reconcile_vendor(state_of(memo), body, 0)


async def vendor_deleted(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    state = state_of(memo)
    failed = await state.require_vendors().offboard(body)
    if failed:
        raise kopf.TemporaryError("offboarding: " + "; ".join(failed), delay=state.backoff(retry))


async def _reconcile_vendor(state: OperatorState, body: Mapping[str, Any], retry: int) -> None:
    if body["metadata"].get("deletionTimestamp") or state.stopping:
        return
    outcome = await state.require_vendors().reconcile(body)
    if outcome.retry:
        raise kopf.TemporaryError(
            f"vendor {outcome.status['phase']}: {outcome.reason}", delay=state.backoff(retry)
        )


# The runtime's Deployments, which the operator owns


async def owned_deployment(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    state = state_of(memo)
    store_name = body["metadata"].get("labels", {}).get(STORE_LABEL)
    if not store_name or state.reconciler is None:
        return
    # Most events are the Deployment's own status moving: observing is enough.
    # A deletion or someone else's spec edit needs the full apply.
    full = type == "DELETED" or state.reconciler.applier.changed_since_applied(body)
    _poke(state, store_name, full)


def _poke(state: OperatorState, store_name: str, full: bool) -> None:
    if store_name in state.pending:
        state.pending[store_name] = state.pending[store_name] or full
        return
    state.pending[store_name] = full
    task = asyncio.get_running_loop().create_task(_poked(state, store_name))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _poked(state: OperatorState, store_name: str) -> None:
    await asyncio.sleep(POKE_DELAY_SECONDS)
    full = state.pending.pop(store_name, True)
    reconciler = state.require()
    selected = selector_labels(state.settings.store_selector)
    try:
        store = await reconciler.kube.get_store(store_name)
        if (
            store is None
            or store["metadata"].get("deletionTimestamp")
            or not picks(selected, store)
        ):
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


def build_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    """A registry of this module's handlers, filtered and timed by ``settings``."""
    registry = kopf.OperatorRegistry()
    # Only the Stores and Vendors this instance serves (all of them by default).
    selected = selector_labels(settings.store_selector)
    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    for resource, changed, drift, deleted in (
        (STORES, store_changed, store_drift, store_deleted),
        (VENDORS, vendor_changed, vendor_drift, vendor_deleted),
    ):
        for cause in (kopf.on.resume, kopf.on.create, kopf.on.update):
            cause(*resource, labels=selected, registry=registry)(changed)
        kopf.timer(
            *resource,
            interval=settings.drift_interval_seconds,
            initial_delay=settings.drift_interval_seconds,
            errors=kopf.ErrorsMode.IGNORED,
            labels=selected,
            registry=registry,
        )(drift)
        kopf.on.delete(*resource, labels=selected, registry=registry)(deleted)
    if settings.watch_owned_objects:
        kopf.on.event(
            "apps", "v1", "deployments", labels={MANAGED_BY_LABEL: MANAGED_BY}, registry=registry
        )(owned_deployment)
    return registry
