"""An operator upgrade that changes a StatefulSet's immutable fields (here its
serviceName, as the headless Services of the in-namespace datastores did) does
not leave the Store failing: the operator deletes the StatefulSet with its pods
orphaned and applies it anew, and the new one adopts the same pods."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes_asyncio import config as aconfig

from storefleet.dev.components.kwok import PLACEMENT as KWOK_PLACEMENT
from storefleet.operator.apply import Applier
from storefleet.operator.kube import Kube
from storefleet.operator.render import key_of


@pytest_asyncio.fixture
async def kube(kube_config: str) -> AsyncIterator[Kube]:
    api = await aconfig.new_client_from_config(config_file=kube_config)
    try:
        yield Kube(api)
    finally:
        await api.close()


def stateful_set(namespace: str, service_name: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "postgres"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "postgres", "namespace": namespace, "labels": labels},
        "spec": {
            "serviceName": service_name,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **KWOK_PLACEMENT,
                    "containers": [{"name": "postgres", "image": "ghcr.io/storefleet/postgres:1"}],
                },
            },
        },
    }


async def running_pod(core: client.CoreV1Api, namespace: str) -> client.V1Pod:
    for _ in range(120):
        pods = core.list_namespaced_pod(namespace).items
        if pods and pods[0].status.phase == "Running":
            return pods[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no running pod in {namespace}")


async def test_a_changed_service_name_recreates_the_stateful_set_and_keeps_its_pod(
    kube: Kube, kube_api: ApiClient
) -> None:
    core = client.CoreV1Api(kube_api)
    namespace = f"recreate-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        applier = Applier(kube, "storefleet-test", concurrency=4)
        namespace_object: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace"}
        namespace_object["metadata"] = {"name": namespace}
        first = await applier.apply([namespace_object, stateful_set(namespace, "postgres")])
        assert not first.failed, first.failed
        pod = await running_pod(core, namespace)

        upgraded = stateful_set(namespace, "postgres-headless")
        report = await applier.apply([namespace_object, upgraded])

        assert not report.failed, report.failed
        assert report.recreated == [key_of(upgraded)]
        live = client.AppsV1Api(kube_api).read_namespaced_stateful_set("postgres", namespace)
        assert live.spec.service_name == "postgres-headless"
        # The same pod, now owned by the new StatefulSet: nothing restarted.
        for _ in range(120):
            adopted = core.read_namespaced_pod(pod.metadata.name, namespace)
            owners = adopted.metadata.owner_references or []
            if any(owner.uid == live.metadata.uid for owner in owners):
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"the pod was not adopted: {adopted.metadata.owner_references}")
        assert adopted.metadata.uid == pod.metadata.uid
        # Nothing else is recreated on the next pass.
        again = await applier.apply([namespace_object, upgraded])
        assert not again.failed
        assert not again.recreated
    finally:
        core.delete_namespace(namespace)
