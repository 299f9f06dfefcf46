"""A Store whose pods run for real, on the dev stack's real node.

The operator deploys the runtime image built from images/runtime/Dockerfile and
the PostgreSQL and Redis images built from images/postgres and images/redis; the
kubelet starts them in containerd, and a shopper buys through the storefront's
Service with the HTML pages. No fake node, no stand-in: what is checked is what
the containers themselves do.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from shop_stack import Shopper
from storeharness import ROOT, Operator, Stores, eventually

from storefleet.dev.nodeconfig import NODE_NAME

pytestmark = pytest.mark.asyncio(loop_scope="module")

READY_TIMEOUT = 600.0
# Where the operator puts this module's Stores: the real node, nothing else.
REAL_PLACEMENT = {
    "STOREFLEET_OPERATOR_DEFAULT_NODE_SELECTOR": json.dumps({"storefleet.io/node": "real"}),
    "STOREFLEET_OPERATOR_DEFAULT_TOLERATIONS": "[]",
    # The test talks plain http to the Services: nothing terminates TLS here.
    "STOREFLEET_OPERATOR_URL_SCHEME": "http",
}


@pytest.fixture(scope="module")
def operator(real_node: object, kube_config: str) -> Iterator[Operator]:
    subprocess.run(
        [str(Path(sys.executable).parent / "storefleet"), "operator", "install-crds"],
        env={**os.environ, "KUBECONFIG": kube_config},
        check=True,
        timeout=120,
    )
    log_dir = ROOT / "test-artifacts" / "operator"
    log_dir.mkdir(parents=True, exist_ok=True)
    running = Operator(kube_config, log_dir, session="real-node", env=REAL_PLACEMENT)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shop(kube_api: ApiClient, operator: Operator) -> Iterator[tuple[Stores, str]]:
    """One Store on the real node: its own PostgreSQL and Redis, the demo catalog,
    and two storefront and two cart replicas."""
    stores = Stores(kube_api, session="real-node")
    name = stores.create(
        database={"enabled": True},
        cache={"enabled": True},
        catalog={"seed": "demo"},
        services={
            "storefront": {"replicas": 2},
            "cart": {"replicas": 2},
        },
    )
    try:
        stores.wait_ready(name, timeout=READY_TIMEOUT)
        namespace = f"store-{name}"
        batch = client.BatchV1Api(kube_api)
        eventually(
            lambda: any(
                (job.status.succeeded or 0) >= 1
                for job in batch.list_namespaced_job(namespace).items
            ),
            "the catalog seed Job to complete",
            timeout=READY_TIMEOUT,
        )
        yield stores, name
    finally:
        stores.cleanup()


def service_url(api: ApiClient, namespace: str, service: str) -> str:
    found = client.CoreV1Api(api).read_namespaced_service(service, namespace)
    port = found.spec.ports[0].port
    return f"http://{found.spec.cluster_ip}:{port}"


def pod_urls(api: ApiClient, namespace: str, service: str) -> list[str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/name={service}"
    )
    return [f"http://{pod.status.pod_ip}:8000" for pod in pods.items if pod.status.pod_ip]


def admin_token(api: ApiClient, namespace: str) -> str:
    secret = client.CoreV1Api(api).read_namespaced_secret("runtime-env", namespace)
    return base64.b64decode(secret.data["STOREFLEET_CATALOG_ADMIN_TOKEN"]).decode()


async def buy_one(shopper: Shopper, words: str) -> str:
    """One unit of the first product a search for words finds; returns the order id."""
    await shopper.add_to_cart(await shopper.find(words), 1)
    status, order_id = await shopper.check_out()
    assert status == 303, shopper.last_answer
    assert order_id is not None
    return order_id


async def stock(api: ApiClient, namespace: str, sku: str) -> int:
    headers = {"Authorization": f"Bearer {admin_token(api, namespace)}"}
    async with httpx.AsyncClient(
        base_url=service_url(api, namespace, "catalog"), headers=headers, timeout=30
    ) as catalog:
        answer = await catalog.get(f"/variants/{sku}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["stock"])


async def test_every_container_of_the_store_runs_on_the_real_node(
    kube_api: ApiClient, shop: tuple[Stores, str]
) -> None:
    stores, name = shop
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(f"store-{name}").items
    serving = [pod for pod in pods if pod.status.phase != "Succeeded"]
    names = {pod.metadata.labels.get("app.kubernetes.io/name") for pod in serving}
    assert {"storefront", "catalog", "cart", "orders", "payments", "postgres", "redis"} <= names
    for pod in serving:
        assert pod.spec.node_name == NODE_NAME, pod.metadata.name
        assert pod.status.phase == "Running", pod.metadata.name
        for container in pod.status.container_statuses:
            # A real container: containerd made it, it started, its probe passed.
            assert container.container_id.startswith("containerd://"), container.name
            assert container.ready, (pod.metadata.name, container.name)
            assert container.started, (pod.metadata.name, container.name)
            assert container.state.running is not None
    conditions = stores.conditions(name)
    assert conditions["DatabaseReady"]["reason"] == "InNamespace"
    assert conditions["CacheReady"]["reason"] == "InNamespace"


async def test_a_shopper_buys_through_the_storefront_service_and_stock_drops(
    kube_api: ApiClient, shop: tuple[Stores, str]
) -> None:
    _, name = shop
    namespace = f"store-{name}"
    storefront = service_url(kube_api, namespace, "storefront")
    shopper = Shopper(httpx.AsyncClient(base_url=storefront, timeout=60))
    try:
        home = await shopper.client.get("/")
        assert home.status_code == 200, shopper.seen(home)
        product = await shopper.find("jacket")
        sku = await shopper.add_to_cart(product, 2)
        before = await stock(kube_api, namespace, sku)
        status, order_id = await shopper.check_out()
        assert status == 303, shopper.last_answer
        assert order_id is not None
        confirmation = await shopper.order_page(order_id)
    finally:
        await shopper.close()
    assert 'data-status="paid"' in confirmation
    assert await stock(kube_api, namespace, sku) == before - 2


async def test_a_cart_survives_requests_served_by_different_replicas(
    kube_api: ApiClient, shop: tuple[Stores, str]
) -> None:
    """Two storefront pods, two cart pods: the cart is in the store's PostgreSQL, its
    cookie signed with the store's key, so any pod serves it."""
    _, name = shop
    namespace = f"store-{name}"
    first, second = pod_urls(kube_api, namespace, "storefront")[:2]
    async with httpx.AsyncClient(base_url=first, timeout=60) as one:
        shopper = Shopper(one)
        product = await shopper.find("tent")
        sku = await shopper.add_to_cart(product, 1)
        # The browser's cookies, as a browser holds them for the shop's one domain.
        cookies = {cookie.name: cookie.value for cookie in one.cookies.jar}
    async with httpx.AsyncClient(base_url=second, cookies=cookies, timeout=60) as other:
        cart = await other.get("/cart")
    assert cart.status_code == 200
    assert sku in cart.text, "the second storefront pod does not see the cart"


async def test_orders_survive_a_deleted_database_pod(
    kube_api: ApiClient, shop: tuple[Stores, str]
) -> None:
    """The in-namespace PostgreSQL keeps its data on a volume of the node."""
    _, name = shop
    namespace = f"store-{name}"
    core = client.CoreV1Api(kube_api)
    claims = core.list_namespaced_persistent_volume_claim(namespace).items
    assert [claim.status.phase for claim in claims] == ["Bound"]

    storefront = service_url(kube_api, namespace, "storefront")
    async with httpx.AsyncClient(base_url=storefront, timeout=60) as browser:
        order_id = await buy_one(Shopper(browser), "headlamp")

        old_uid = core.read_namespaced_pod("postgres-0", namespace).metadata.uid
        core.delete_namespaced_pod("postgres-0", namespace)

        def restarted() -> bool:
            pod = core.read_namespaced_pod("postgres-0", namespace)
            statuses = pod.status.container_statuses or []
            return pod.metadata.uid != old_uid and all(c.ready for c in statuses) and bool(statuses)

        eventually(restarted, "postgres-0 to come back Ready", timeout=180)
        deadline = time.monotonic() + 120
        while True:
            page = await browser.get(f"/orders/{order_id}")
            if page.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    assert page.status_code == 200, Shopper.seen(page)
    assert 'data-status="paid"' in page.text


async def test_rotated_credentials_roll_the_pods_and_the_shop_keeps_selling(
    kube_api: ApiClient, shop: tuple[Stores, str]
) -> None:
    """A new database and cache password reaches PostgreSQL, Redis and every service."""
    _, name = shop
    namespace = f"store-{name}"
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)

    def password() -> str:
        secret = core.read_namespaced_secret("store-credentials", namespace)
        return base64.b64decode(secret.data["database-password"]).decode()

    before = password()
    await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "storefleet"), "operator", "rotate-credentials", name],
        check=True,
        timeout=60,
    )
    eventually(lambda: password() != before, "the database password to be rotated", timeout=120)

    def rolled() -> bool:
        workloads = [*apps.list_namespaced_deployment(namespace).items]
        workloads += apps.list_namespaced_stateful_set(namespace).items
        return all(
            (w.status.observed_generation or 0) >= w.metadata.generation
            and (w.status.updated_replicas or 0) == w.spec.replicas
            and (w.status.ready_replicas or 0) == w.spec.replicas
            for w in workloads
        )

    eventually(rolled, "every workload to roll onto the new credentials", timeout=READY_TIMEOUT)
    storefront = service_url(kube_api, namespace, "storefront")
    async with httpx.AsyncClient(base_url=storefront, timeout=60) as browser:
        shopper = Shopper(browser)
        order_id = await buy_one(shopper, "backpack")
        assert 'data-status="paid"' in await shopper.order_page(order_id)
