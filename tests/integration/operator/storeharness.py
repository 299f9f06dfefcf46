"""Helpers of the operator's integration tests: the operator as a process, Stores, kubectl."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from storefleet.dev.components.kwok import PLACEMENT as KWOK_PLACEMENT
from storefleet.dev.components.platform_crds import SOURCES
from storefleet.dev.gomodule import DownloadError
from storefleet.operator.kinds import ISTIO_API_VERSIONS

ROOT = Path(__file__).resolve().parents[3]
GROUP, VERSION, PLURAL = "storefleet.io", "v1alpha1", "stores"
# The dev stack's source of Istio's CRDs, and the API groups the operator routes with.
ISTIO_SOURCE = next(source for source in SOURCES if source.module == "istio.io/api")
ISTIO_GROUPS = frozenset(version.split("/")[0] for version in ISTIO_API_VERSIONS)
# How long the operator under test caches the list of served APIs.
DISCOVERY_TTL = 1.0
TIMEOUT = 90.0
# Stores of this test session carry this label and this session's operator only
# reconciles those, so concurrent sessions on one cluster do not fight over Stores.
SESSION_LABEL = "storefleet.io/test-session"
SESSION = secrets.token_hex(4)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# Runs a test once without Istio (routed by an Ingress) and once with it, through
# the `istio` fixture.
BOTH_ROUTINGS = pytest.mark.parametrize(
    "istio", [False, True], ids=["ingress", "istio"], indirect=True
)


def eventually(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as exc:
            if exc.status != 404:
                raise
            last = None
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator:
    """`storefleet operator run` in a subprocess: start, kill -9, restart, read metrics."""

    def __init__(
        self,
        kube_config: str,
        log_dir: Path,
        session: str = SESSION,
        env: dict[str, str] | None = None,
    ) -> None:
        self.kube_config = kube_config
        self.log_dir = log_dir
        # Which Stores it reconciles (their SESSION_LABEL), and settings beyond the defaults.
        self.session = session
        self.env = env or {}
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "KUBECONFIG": self.kube_config,
            "STOREFLEET_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "STOREFLEET_OPERATOR_HEALTH_PORT": "0",
            "STOREFLEET_OPERATOR_DRIFT_INTERVAL_SECONDS": "5",
            "STOREFLEET_OPERATOR_DISCOVERY_TTL_SECONDS": str(DISCOVERY_TTL),
            "STOREFLEET_OPERATOR_LOG_FORMAT": "json",
            "STOREFLEET_OPERATOR_STORE_SELECTOR": f"{SESSION_LABEL}={self.session}",
            # Fleet tests run on KWOK's fake nodes, which repel everything else.
            "STOREFLEET_OPERATOR_DEFAULT_NODE_SELECTOR": json.dumps(KWOK_PLACEMENT["nodeSelector"]),
            "STOREFLEET_OPERATOR_DEFAULT_TOLERATIONS": json.dumps(KWOK_PLACEMENT["tolerations"]),
            **self.env,
        }
        log = (self.log_dir / f"operator-{self.session}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "storefleet"), "operator", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        eventually(self._serving_metrics, "the operator's metrics endpoint", timeout=30)

    def _serving_metrics(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the operator exited with {self.process.returncode}; see {self.log_dir}")
        try:
            self.metrics()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: no clean-up, no chance to finish what it was doing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
        return text

    def reconciles(self, trigger: str | None = None) -> float:
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("storefleet_reconciles_total{") and (
                trigger is None or f'trigger="{trigger}"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total


class Stores:
    """Creates Stores for one test and deletes them (and waits for their namespaces) after."""

    def __init__(self, api: ApiClient, session: str = SESSION) -> None:
        self.api = api
        self.session = session
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.created: list[str] = []

    @staticmethod
    def unique(prefix: str = "t") -> str:
        return f"{prefix}-{secrets.token_hex(3)}"

    def body(self, name: str, **spec: Any) -> dict[str, Any]:
        base: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "store.yaml").read_text())
        base["metadata"] = {"name": name, "labels": {SESSION_LABEL: self.session}}
        base["spec"]["domains"] = [f"{name}.shop.example.com"]
        base["spec"].update(spec)
        return base

    def create(self, name: str | None = None, **spec: Any) -> str:
        name = name or self.unique()
        self.created.append(name)
        self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, self.body(name, **spec))
        return name

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        return found

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.patch_cluster_custom_object(
            GROUP, VERSION, PLURAL, name, patch
        )
        return result

    def conditions(self, name: str) -> dict[str, dict[str, Any]]:
        status = self.get(name).get("status") or {}
        return {c["type"]: c for c in status.get("conditions") or []}

    def is_ready(self, name: str) -> bool:
        store = self.get(name)
        status = store.get("status") or {}
        return (
            status.get("phase") == "Ready"
            and status.get("observedGeneration") == store["metadata"]["generation"]
        )

    def wait_ready(self, name: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        eventually(lambda: self.is_ready(name), f"Store {name} to be Ready", timeout)
        return self.get(name)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_event(
            "default", field_selector=f"involvedObject.name={name},involvedObject.kind=Store"
        )
        return [e.to_dict() for e in found.items]

    def delete(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def gone(self, name: str) -> bool:
        try:
            self.get(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    def cleanup(self) -> None:
        for name in self.created:
            self.delete(name)
        for name in self.created:
            eventually(lambda n=name: self.gone(n), f"Store {name} to be deleted", timeout=120)


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("STOREFLEET_KUBECTL") or shutil.which("kubectl") or "kubectl"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=check, timeout=60)


def owned_objects(namespace: str) -> dict[str, dict[str, Any]]:
    """Every object in a tenant namespace that carries the operator's labels, by Kind/name."""
    from storefleet.operator.kinds import KINDS

    served = set(kubectl("api-versions").stdout.split())
    resources = [
        f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        for kind in KINDS
        if kind.namespaced and kind.api_version in served
    ]
    listed = kubectl(
        "get",
        ",".join(resources),
        "-n",
        namespace,
        "-l",
        "app.kubernetes.io/managed-by=storefleet-operator",
        "-o",
        "json",
    )
    return {
        f"{item['kind']}/{item['metadata']['name']}": item
        for item in json.loads(listed.stdout)["items"]
    }


def istio_crds() -> list[dict[str, Any]]:
    """Istio's networking and security CRDs, from the file the dev stack's platform-crds
    component installs (istio.io/api's generated CRDs, cached once)."""
    try:
        paths = ISTIO_SOURCE.fetch()
    except DownloadError as exc:
        message = f"could not fetch Istio's CRDs: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return [
        doc
        for path in paths
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader)
        if doc
        and doc.get("kind") == "CustomResourceDefinition"
        and doc["spec"]["group"] in ISTIO_GROUPS
    ]


def istio_served() -> bool:
    """Whether discovery lists every Istio API the operator routes with."""
    served = set(kubectl("api-versions").stdout.split())
    return all(version in served for version in ISTIO_API_VERSIONS)


def installed_istio_crds(api: ApiClient) -> set[str]:
    listed = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    return {crd.metadata.name for crd in listed if crd.spec.group in ISTIO_GROUPS}


def install_istio(names: set[str] | None = None) -> None:
    """Apply Istio's CRDs (those named, or all) and wait until the API server serves them."""
    crds = [c for c in istio_crds() if names is None or c["metadata"]["name"] in names]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        yaml.safe_dump_all(crds, handle)
        handle.flush()
        kubectl("apply", "--server-side", "--force-conflicts", "-f", handle.name)
    wanted = [f"crd/{c['metadata']['name']}" for c in crds]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *wanted)
    if names is None:
        eventually(istio_served, "Istio's APIs to be served")


def remove_istio(api: ApiClient, names: set[str] | None = None) -> None:
    """Delete Istio's CRDs (those named, or all) and wait until their APIs are gone."""
    extensions = client.ApiextensionsV1Api(api)
    doomed = installed_istio_crds(api) if names is None else names
    for name in doomed:
        try:
            extensions.delete_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    eventually(lambda: not installed_istio_crds(api) & doomed, "Istio's CRDs to be deleted")
    if names is None:
        eventually(lambda: not istio_served(), "Istio's APIs to be gone")


@contextmanager
def istio_state(api: ApiClient, served: bool) -> Iterator[None]:
    """The cluster serves Istio's APIs (or not) inside; afterwards its Istio CRDs are
    the ones it had before. Waits out the operator's discovery cache both ways, so the
    next reconcile sees the state that was set."""
    before = installed_istio_crds(api)
    if served:
        install_istio()
    else:
        remove_istio(api)
    time.sleep(DISCOVERY_TTL + 0.5)
    try:
        yield
    finally:
        now = installed_istio_crds(api)
        if now - before:
            remove_istio(api, now - before)
        if before - now:
            install_istio(before - now)
        time.sleep(DISCOVERY_TTL + 0.5)
