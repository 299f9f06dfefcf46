"""`make run`: the whole product on one machine.

The local control plane with its real node (and the KWOK nodes), the images
built from images/*/Dockerfile and loaded into the node, the CRDs, the operator
as its own process, the example Store applied and reconciled to Ready, its
catalog seeded by its Job, and then that store's shop on localhost, every page
from the Store's own pods: through the node's Ingress controller at the
Store's `*.localhost` domain (browsers and curl resolve those names to
loopback), and at http://localhost:8000 through a port-forward to the
storefront Service. Ctrl-C stops everything this command started.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from storefleet.dev import images, stack
from storefleet.dev.components.ingress import INGRESS_CLASS, Ingress
from storefleet.dev.components.ingress import NAMESPACE as INGRESS_NAMESPACE
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.node import Node
from storefleet.dev.components.smtp import Smtp
from storefleet.dev.network import DNS_IP
from storefleet.dev.paths import REPOSITORY, state_dir
from storefleet.dev.processes import Process

EXAMPLE_STORE = REPOSITORY / "examples" / "store-demo.yaml"
READY_TIMEOUT = 600
SERVED_IMAGES = ("runtime", "postgres", "redis")
# Locally the Store is served over plain HTTP by the node's Ingress controller, and
# its pods' cluster DNS is the node's CoreDNS, which its NetworkPolicies must admit.
OPERATOR_ENV = {
    "STOREFLEET_OPERATOR_URL_SCHEME": "http",
    "STOREFLEET_OPERATOR_INGRESS_CLASS": INGRESS_CLASS,
    "STOREFLEET_OPERATOR_INGRESS_NAMESPACE": INGRESS_NAMESPACE,
    "STOREFLEET_OPERATOR_DNS_CIDRS": f'["{DNS_IP}/32"]',
}
CONDITIONS = (
    '{range .status.conditions[*]}{.type}{"\\t"}{.status}{"\\t"}{.reason}'
    '{"\\t"}{.message}{"\\n"}{end}'
)


class RunError(RuntimeError):
    """`make run` could not bring the example Store up."""


def storefleet_command() -> str:
    """The console script of the interpreter running us (the project's venv)."""
    return str(Path(sys.executable).parent / "storefleet")


def run(store_file: Path, shop_port: int, report: Callable[[str], None]) -> None:
    started = stack.up(
        ["kubernetes", "kwok", "node", "netpol", "relay", "ingress", "smtp"], report=report
    )
    cluster = Kubernetes()
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    directory = state_dir("run")
    operator = Process("operator", directory)
    forward = Process("port-forward", directory)
    try:
        node = Node()
        for archive in images.build_all(SERVED_IMAGES, report=report):
            node.load(archive)
            report(f"image {archive.reference}: loaded into {node.describe()}")
        subprocess.run([storefleet_command(), "operator", "install-crds"], env=env, check=True)
        operator.start([storefleet_command(), "operator", "run"], env={**env, **OPERATOR_ENV})
        report(f"operator: running (log {operator.log_file})")

        name = yaml.safe_load(store_file.read_text())["metadata"]["name"]
        _kubectl(cluster, "apply", "-f", str(store_file))
        report(f"store {name}: applied {store_file.name}; waiting for Ready ...")
        _wait_ready(cluster, name, operator)
        report(_kubectl(cluster, "get", "stores", "-o", "wide"))
        report(_kubectl(cluster, "get", "store", name, "-o", f"jsonpath={CONDITIONS}"))
        namespace = _namespace(cluster, name)
        _wait_seeded(cluster, namespace, report)
        report(_kubectl(cluster, "get", "pods", "-n", namespace, "-o", "wide"))

        forward.start(
            [
                *cluster.kubectl_command(),
                "port-forward",
                "--address=127.0.0.1",
                "-n",
                namespace,
                "service/storefront",
                f"{shop_port}:8000",
            ]
        )
        through_ingress = _ingress_urls(cluster, name)
        lines = [f"\nThe shop of store {name}, served by its pods:"]
        lines += [f"  {url}  (the Ingress controller)" for url in through_ingress]
        lines += [f"  http://localhost:{shop_port}  (port-forward)"]
        lines += [f"Its e-mail: {Smtp().maildir}/new", "Ctrl-C stops all."]
        report("\n".join(lines))
        with contextlib.suppress(KeyboardInterrupt):
            while forward.running():
                time.sleep(1)
            raise RunError(f"the port-forward ended; see {forward.log_file}:\n{forward.log_tail()}")
    except KeyboardInterrupt:
        report("interrupted")
    finally:
        forward.stop()
        operator.stop()
        if started:
            stack.down(started, report=report)


def _ingress_urls(cluster: Kubernetes, name: str) -> list[str]:
    """The Store's `*.localhost` domains at the Ingress controller, once each answers."""
    store = json.loads(_kubectl(cluster, "get", "store", name, "-o", "json"))
    ingress = Ingress()
    urls = []
    for domain in store["spec"]["domains"]:
        if not domain.endswith(".localhost"):
            continue
        answer = httpx.get(f"{ingress.url}/", headers={"Host": domain}, timeout=30)
        if answer.status_code != 200:
            raise RunError(f"the Ingress controller answers {answer.status_code} for {domain}")
        urls.append(f"http://{domain}:{ingress.url.rsplit(':', 1)[1]}")
    return urls


def _kubectl(cluster: Kubernetes, *args: str) -> str:
    result = cluster.kubectl(*args)
    if result.returncode != 0:
        raise RunError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _wait_ready(cluster: Kubernetes, name: str, operator: Process) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not operator.running():
            raise RunError(f"the operator exited; see {operator.log_file}:\n{operator.log_tail()}")
        # Ready for the spec just applied: a Store that was Ready before reports
        # the new generation only once the operator has reconciled it.
        found = cluster.kubectl(
            "get", f"store/{name}", "-o",
            "jsonpath={.metadata.generation} {.status.observedGeneration} "
            "{.status.conditions[?(@.type=='Ready')].status}",
        ).stdout.split()  # fmt: skip
        if len(found) == 3 and found[0] == found[1] and found[2] == "True":
            return
        time.sleep(2)
    raise RunError(
        f"store {name} not Ready after {READY_TIMEOUT}s:\n"
        + cluster.kubectl("describe", "store", name).stdout
    )


def _namespace(cluster: Kubernetes, name: str) -> str:
    store = json.loads(_kubectl(cluster, "get", "store", name, "-o", "json"))
    namespace: str = store["status"]["namespace"]
    return namespace


def _wait_seeded(cluster: Kubernetes, namespace: str, report: Callable[[str], None]) -> None:
    """Waits for the catalog seed Job, if the Store has one."""
    jobs = json.loads(_kubectl(cluster, "get", "jobs", "-n", namespace, "-o", "json"))["items"]
    for job in jobs:
        job_name = job["metadata"]["name"]
        report(f"catalog: waiting for Job {job_name} to load the demo catalog ...")
        waited = cluster.kubectl(
            "wait", "-n", namespace, f"job/{job_name}", "--for=condition=Complete",
            f"--timeout={READY_TIMEOUT}s",
        )  # fmt: skip
        if waited.returncode != 0:
            logs = cluster.kubectl("logs", "-n", namespace, f"job/{job_name}", "--tail=20")
            raise RunError(f"Job {job_name} did not complete:\n{waited.stderr}{logs.stdout}")
