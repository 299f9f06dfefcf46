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
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from node_pods import run_python
from shop_stack import Shopper
from storeharness import ROOT, Operator, Stores, eventually

from storefleet.dev.components.ingress import INGRESS_CLASS, Ingress
from storefleet.dev.components.ingress import NAMESPACE as INGRESS_NAMESPACE
from storefleet.dev.components.kubernetes import APISERVER_PORT
from storefleet.dev.components.netpol import NetworkPolicies
from storefleet.dev.components.smtp import PORT as SMTP_PORT
from storefleet.dev.components.smtp import Smtp
from storefleet.dev.network import DNS_IP, NODE_IP, SERVICE_IP
from storefleet.dev.nodeconfig import NODE_NAME

pytestmark = pytest.mark.asyncio(loop_scope="module")

READY_TIMEOUT = 600.0
SENDER = "shop@real-node.test"
# Where the operator puts this module's Stores: the real node, nothing else.
REAL_PLACEMENT = {
    "STOREFLEET_OPERATOR_DEFAULT_NODE_SELECTOR": json.dumps({"storefleet.io/node": "real"}),
    "STOREFLEET_OPERATOR_DEFAULT_TOLERATIONS": "[]",
    # The test talks plain http to the Services: nothing terminates TLS here.
    "STOREFLEET_OPERATOR_URL_SCHEME": "http",
    # The real node's Ingress controller (dev/src/storefleet/dev/components/ingress.py).
    "STOREFLEET_OPERATOR_INGRESS_CLASS": INGRESS_CLASS,
    "STOREFLEET_OPERATOR_INGRESS_NAMESPACE": INGRESS_NAMESPACE,
    # Cluster DNS is the node's CoreDNS on the bridge address, not a kube-dns pod.
    "STOREFLEET_OPERATOR_DNS_CIDRS": json.dumps([f"{DNS_IP}/32"]),
}
# Where the policies let scrapes of /metrics in from (the operator's default).
MONITORING_NAMESPACE = "monitoring"


@pytest.fixture(scope="module")
def operator(
    real_node: object,
    node_relay: object,
    node_ingress: Ingress,
    node_netpol: NetworkPolicies,
    kube_config: str,
) -> Iterator[Operator]:
    """The operator, with every NetworkPolicy it renders enforced on the real node:
    each test of this module runs behind the Stores' policies."""
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
def shop(kube_api: ApiClient, operator: Operator, smtp_sink: Smtp) -> Iterator[tuple[Stores, str]]:
    """One Store on the real node: its own PostgreSQL and Redis, the demo catalog,
    two storefront and two cart replicas, and its e-mail sent to the stack's SMTP
    sink (through the relay on the node's address)."""
    stores = Stores(kube_api, session="real-node")
    name = stores.create(
        database={"enabled": True},
        cache={"enabled": True},
        catalog={"seed": "demo"},
        # The node's Ingress controller routes it: the stack may serve Istio's CRDs
        # (other tests install them) but runs no Istio gateway.
        mesh={"enabled": False},
        notifications={
            "smtp": {"host": NODE_IP, "port": SMTP_PORT, "security": "none", "from": SENDER}
        },
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


def admin_token(api: ApiClient, namespace: str, service: str = "catalog") -> str:
    secret = client.CoreV1Api(api).read_namespaced_secret(f"runtime-env-{service}", namespace)
    return base64.b64decode(secret.data[f"STOREFLEET_{service.upper()}_ADMIN_TOKEN"]).decode()


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
    assert conditions["EventsReady"]["reason"] == "RedisStreams"
    assert conditions["NotificationsReady"]["status"] == "True"


async def test_a_shopper_buys_through_the_storefront_service_and_gets_one_email(
    kube_api: ApiClient, shop: tuple[Stores, str], smtp_sink: Smtp
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

    # The orders pod's order.paid reaches the notifications pod over the store's
    # Redis, which mails the shopper once through the SMTP sink.
    def receipts() -> list[EmailMessage]:
        return [
            message
            for message in smtp_sink.messages()
            if "payment received" in str(message["Subject"]) and order_id in str(message["Subject"])
        ]

    (receipt,) = eventually(receipts, "the order's e-mail at the SMTP sink", timeout=120)
    assert [address.addr_spec for address in receipt["To"].addresses] == [shopper.email]
    assert [address.addr_spec for address in receipt["From"].addresses] == [SENDER]
    # A redelivered event would send a second one by now.
    await asyncio.sleep(10)
    assert len(receipts()) == 1


async def test_the_stores_ingress_routes_each_path_to_its_service_through_the_controller(
    kube_api: ApiClient, shop: tuple[Stores, str], node_ingress: Ingress
) -> None:
    """As in a cluster: the Store's Ingress, the controller on the node, the domain's
    Host header; each routed prefix reaches the pods of the service it names."""
    _, name = shop
    namespace = f"store-{name}"
    ingress = client.NetworkingV1Api(kube_api).read_namespaced_ingress("storefront", namespace)
    assert ingress.spec.ingress_class_name == INGRESS_CLASS
    rule = ingress.spec.rules[0]
    routes = {path.path: path.backend.service.name for path in rule.http.paths}
    assert {"/", "/api/catalog", "/api/cart", "/api/orders"} <= set(routes)
    service_only = {prefix for prefix in routes if prefix.endswith("/internal")}
    assert {"/api/catalog/internal", "/api/cart/internal"} <= service_only
    async with httpx.AsyncClient(
        base_url=node_ingress.url, headers={"Host": rule.host}, timeout=30
    ) as browser:
        for prefix, service in routes.items():
            if prefix in service_only:
                continue
            health = await browser.get(f"{prefix.rstrip('/')}/healthz")
            assert health.status_code == 200, (prefix, health.text)
            assert health.json()["service"] == service, prefix
        home = await browser.get("/")
        assert home.status_code == 200
        assert "text/html" in home.headers["content-type"]
        products = await browser.get("/api/catalog/products", params={"q": "jacket"})
        assert products.status_code == 200, products.text
        assert products.json()["items"], products.text
        # A host the Store does not serve reaches none of its pods.
        stranger = await browser.get("/", headers={"Host": "not-this-store.test"})
        assert stranger.status_code == 404
        # Holding stock is for the orders service: even with the catalog's own
        # token, the edge sends it to the storefront, which has no such page (and
        # refuses a POST that carries none of its form tokens before looking).
        slug = products.json()["items"][0]["slug"]
        sku = (await browser.get(f"/api/catalog/products/{slug}")).json()["variants"][0]["sku"]
        before = await stock(kube_api, namespace, sku)
        held = await browser.post(
            "/api/catalog/internal/reservations",
            json={"items": [{"sku": sku, "quantity": 1}]},
            headers={"Authorization": f"Bearer {admin_token(kube_api, namespace)}"},
        )
        assert held.status_code in (403, 404), held.text
        assert "text/html" in held.headers["content-type"], "the catalog answered"
        looked = await browser.get(
            "/api/catalog/internal/reservations/any",
            headers={"Authorization": f"Bearer {admin_token(kube_api, namespace)}"},
        )
        assert looked.status_code == 404, looked.text
        assert "text/html" in looked.headers["content-type"], "the catalog answered"
        assert await stock(kube_api, namespace, sku) == before


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
    phases = {claim.metadata.name: claim.status.phase for claim in claims}
    assert phases == {"data-postgres-0": "Bound", "data-redis-0": "Bound"}

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


ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Test Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


async def test_checkouts_whose_orders_pod_is_killed_end_paid_with_money_and_stock_balanced(
    kube_api: ApiClient, shop: tuple[Stores, str], node_ingress: Ingress
) -> None:
    """Checkouts placed through the Ingress; the orders pod is killed (no grace) while
    their sagas run; its replacement resumes them: each order ends paid, captured
    once, its units taken once, no authorization left open."""
    stores, name = shop
    namespace = f"store-{name}"
    core = client.CoreV1Api(kube_api)
    domain = stores.get(name)["spec"]["domains"][0]
    staff = {
        service: {"Authorization": f"Bearer {admin_token(kube_api, namespace, service)}"}
        for service in ("catalog", "orders", "payments")
    }
    async with httpx.AsyncClient(
        base_url=node_ingress.url, headers={"Host": domain}, timeout=60
    ) as api:
        found = await api.get("/api/catalog/products", params={"q": "tent"})
        slug = found.json()["items"][0]["slug"]
        sku = (await api.get(f"/api/catalog/products/{slug}")).json()["variants"][0]["sku"]

        async def units() -> int:
            counted = await api.post(
                "/api/catalog/admin/variant-lookup", json={"skus": [sku]}, headers=staff["catalog"]
            )
            assert counted.status_code == 200, counted.text
            return int(counted.json()["items"][0]["stock"])

        async def books() -> dict[str, int]:
            ledger = await api.get("/api/payments/admin/ledger", headers=staff["payments"])
            assert ledger.status_code == 200, ledger.text
            return dict(ledger.json()["gateway"])

        async def place() -> dict[str, object]:
            added = await api.post("/api/cart/cart/items", json={"sku": sku, "quantity": 1})
            assert added.status_code in (200, 201), added.text
            placed = await api.post(
                "/api/orders/checkout",
                json={
                    "email": "crash@real-node.test",
                    "shipping_address": ADDRESS,
                    "payment": {"token": "tok_visa"},
                },
                headers={
                    "X-Cart-Id": added.headers["x-cart-id"],
                    "Idempotency-Key": uuid.uuid4().hex,
                },
            )
            assert placed.status_code == 201, placed.text
            return dict(placed.json())

        stock_before, books_before = await units(), await books()
        orders_pods = core.list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/name=orders"
        ).items
        placed = await asyncio.gather(*(place() for _ in range(4)))
        # The sagas run after the 201: kill the pod that runs them, now.
        for pod in orders_pods:
            core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
        killed = {pod.metadata.uid for pod in orders_pods}

        def replaced() -> bool:
            pods = core.list_namespaced_pod(
                namespace, label_selector="app.kubernetes.io/name=orders"
            ).items
            return any(
                pod.metadata.uid not in killed
                and bool(pod.status.container_statuses)
                and all(c.ready for c in pod.status.container_statuses)
                for pod in pods
            )

        eventually(replaced, "a new orders pod to be Ready", timeout=180)
        settled: list[dict[str, object]] = []
        for order in placed:
            deadline = time.monotonic() + 180
            while True:
                answer = await api.get(
                    f"/api/orders/admin/orders/{order['id']}", headers=staff["orders"]
                )
                state = answer.json() if answer.status_code == 200 else {}
                if state.get("checkout_state") in ("done", "failed") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            settled.append(state)
        sagas = (await api.get("/api/orders/admin/sagas", headers=staff["orders"])).json()
        stock_after, books_after = await units(), await books()

    assert [order.get("status") for order in settled] == ["paid"] * 4, settled
    assert sagas["running"] == sagas["compensating"] == sagas["waiting"] == 0, sagas
    assert stock_after == stock_before - 4
    totals = sum(int(str(order["total_minor"])) for order in placed)
    assert books_after["captured"] - books_before["captured"] == 4
    assert books_after["captured_minor"] - books_before["captured_minor"] == totals
    assert books_after["open_authorizations"] == 0


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


# A probe that runs in a pod: it tries each target once and prints what happened,
# one JSON object, on its log. It waits first, so that the firewall has written
# the chain of its pod (kube-router does within a second or two of the pod's
# address being known) before the first packet leaves.
PROBE = r"""
import json, socket, time, urllib.error, urllib.request

def attempt(host, port, kind):
    try:
        if kind == "dns":
            return "resolved " + socket.gethostbyname(host)
        if kind == "http":
            with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=4) as answer:
                return f"http {answer.status}"
        socket.create_connection((host, port), timeout=4).close()
        return "open"
    except urllib.error.URLError as exc:
        reason = exc.reason
        return "refused" if isinstance(reason, ConnectionRefusedError) else f"blocked: {reason}"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "timeout"
    except OSError as exc:
        return f"blocked: {exc}"

time.sleep(SETTLE_SECONDS)
print(json.dumps({name: attempt(*target) for name, target in TARGETS.items()}))
"""
PROBE_SETTLE_SECONDS = 8
Target = tuple[str, int, str]


def runtime_image(api: ApiClient, namespace: str) -> str:
    """The runtime image the node already holds: the one the store's pods run."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment("catalog", namespace)
    image: str = deployment.spec.template.spec.containers[0].image
    return image


def probe(api: ApiClient, namespace: str, image: str, targets: dict[str, Target]) -> dict[str, str]:
    """Run PROBE in a pod of namespace on the real node; what each target gave."""
    name = f"netpol-probe-{uuid.uuid4().hex[:8]}"
    script = f"SETTLE_SECONDS = {PROBE_SETTLE_SECONDS}\nTARGETS = {targets!r}\n{PROBE}"
    try:
        finished = run_python(api, namespace, name, script, image=image, timeout=180)
    finally:
        client.CoreV1Api(api).delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    assert finished.phase == "Succeeded", finished.logs
    results: dict[str, str] = json.loads(finished.logs.strip().splitlines()[-1])
    return results


def reachable(result: str) -> bool:
    return result == "open" or result.startswith(("http 2", "resolved "))


def reachable_from_host(host: str, port: int) -> bool:
    """The control: the host's own connections to pods are never filtered."""
    try:
        socket.create_connection((host, port), timeout=4).close()
    except OSError:
        return False
    return True


def pods_of(api: ApiClient, namespace: str, service: str) -> list[str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/name={service}"
    )
    return [pod.status.pod_ip for pod in pods.items if pod.status.pod_ip]


def cluster_ip(api: ApiClient, namespace: str, service: str) -> Target:
    found = client.CoreV1Api(api).read_namespaced_service(service, namespace)
    return (found.spec.cluster_ip, found.spec.ports[0].port, "tcp")


@pytest.fixture(scope="module")
def other_store(kube_api: ApiClient, shop: tuple[Stores, str]) -> Iterator[str]:
    """A second Store on the real node, with its own PostgreSQL and Redis: the
    neighbour whose pods the first one must not reach, nor be reached by."""
    stores = Stores(kube_api, session="real-node")
    # Its storefront and catalog serve; the other services are scaled to nothing,
    # which leaves the node's two cores to the first Store.
    idle = ("accounts", "analytics", "cart", "notifications", "orders", "payments", "vendors")
    name = stores.create(
        database={"enabled": True},
        cache={"enabled": True},
        mesh={"enabled": False},
        services={service: {"replicas": 0} for service in idle},
    )
    try:
        stores.wait_ready(name, timeout=READY_TIMEOUT)
        yield name
    finally:
        stores.cleanup()


@pytest.fixture(scope="module")
def monitoring_namespace(kube_api: ApiClient) -> Iterator[str]:
    """The namespace the Stores' policies let scrape /metrics (made if missing)."""
    core = client.CoreV1Api(kube_api)
    existing = {ns.metadata.name for ns in core.list_namespace().items}
    if MONITORING_NAMESPACE not in existing:
        core.create_namespace({"metadata": {"name": MONITORING_NAMESPACE}})
    yield MONITORING_NAMESPACE
    if MONITORING_NAMESPACE not in existing:
        core.delete_namespace(MONITORING_NAMESPACE)


async def test_a_stores_pods_reach_their_own_store_and_nothing_else(
    kube_api: ApiClient, shop: tuple[Stores, str], other_store: str, operator: Operator
) -> None:
    """From a pod in store A's namespace, behind A's NetworkPolicies as kube-router
    enforces them: A's own Services, pods and datastores and cluster DNS answer;
    store B's pods, Services and datastores, the operator and the API server (by its
    Service and by the relay) do not, nor does A's SMTP server, which only A's
    notifications pods may reach."""
    _, name = shop
    mine, theirs = f"store-{name}", f"store-{other_store}"
    allowed: dict[str, Target] = {
        "own storefront Service": cluster_ip(kube_api, mine, "storefront"),
        "own catalog Service": cluster_ip(kube_api, mine, "catalog"),
        "own postgres Service": cluster_ip(kube_api, mine, "postgres"),
        "own redis Service": cluster_ip(kube_api, mine, "redis"),
        "own catalog pod": (pods_of(kube_api, mine, "catalog")[0], 8000, "tcp"),
        "cluster DNS": (f"catalog.{mine}.svc.cluster.local", 0, "dns"),
    }
    refused: dict[str, Target] = {
        "other store's storefront pod": (pods_of(kube_api, theirs, "storefront")[0], 8000, "tcp"),
        "other store's catalog pod": (pods_of(kube_api, theirs, "catalog")[0], 8000, "tcp"),
        "other store's storefront Service": cluster_ip(kube_api, theirs, "storefront"),
        "other store's postgres pod": (pods_of(kube_api, theirs, "postgres")[0], 5432, "tcp"),
        "other store's redis pod": (pods_of(kube_api, theirs, "redis")[0], 6379, "tcp"),
        "other store's postgres Service": cluster_ip(kube_api, theirs, "postgres"),
        "other store's redis Service": cluster_ip(kube_api, theirs, "redis"),
        "operator's metrics": (NODE_IP, operator.metrics_port, "tcp"),
        "API server Service": (SERVICE_IP, 443, "tcp"),
        "API server through the relay": (NODE_IP, APISERVER_PORT, "tcp"),
        # The store's SMTP server is for its notifications pods (whose receipt reaches
        # the sink in the test above), not for any other pod of the store.
        "SMTP server, from a pod not of the notifications service": (NODE_IP, SMTP_PORT, "tcp"),
    }
    # Each refused target is alive: the host, which no policy filters, reaches it.
    for label, (host, port, _) in refused.items():
        assert reachable_from_host(host, port), f"{label} ({host}:{port}) is not serving"

    results = probe(kube_api, mine, runtime_image(kube_api, mine), {**allowed, **refused})

    assert {label: results[label] for label in allowed if not reachable(results[label])} == {}
    assert {label: results[label] for label in refused if reachable(results[label])} == {}


async def test_metrics_are_reachable_from_the_monitoring_namespace_only(
    kube_api: ApiClient, shop: tuple[Stores, str], other_store: str, monitoring_namespace: str
) -> None:
    """allow-metrics lets the monitoring namespace scrape every pod's /metrics;
    another store's pods get nothing from the same port."""
    _, name = shop
    mine = f"store-{name}"
    image = runtime_image(kube_api, mine)
    targets: dict[str, Target] = {
        service: (pods_of(kube_api, mine, service)[0], 8000, "http")
        for service in ("catalog", "orders", "storefront")
    }
    scraped = probe(kube_api, monitoring_namespace, image, targets)
    assert scraped == {service: "http 200" for service in targets}, scraped
    from_neighbour = probe(kube_api, f"store-{other_store}", image, targets)
    assert not [service for service, result in from_neighbour.items() if reachable(result)], (
        from_neighbour
    )
