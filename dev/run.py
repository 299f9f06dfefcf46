"""`make run`: the whole product on one machine.

The local control plane with KWOK nodes, the CRDs, the operator as its own
process, the example Store applied and reconciled to Ready, and then that
store's shop served on localhost, configured from the settings ConfigMap the
operator rendered for the tenant, the same settings its Deployments read.
Ctrl-C stops everything this command started.
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

import yaml

from storefleet.dev import stack
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.paths import state_dir
from storefleet.dev.processes import Process

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE_STORE = REPOSITORY / "examples" / "store.yaml"
READY_TIMEOUT = 300
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
    started = stack.up(["kubernetes", "kwok"], report=report)
    cluster = Kubernetes()
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    directory = state_dir("run")
    operator = Process("operator", directory)
    shop: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([storefleet_command(), "operator", "install-crds"], env=env, check=True)
        operator.start([storefleet_command(), "operator", "run"], env=env)
        report(f"operator: running (log {operator.log_file})")

        name = yaml.safe_load(store_file.read_text())["metadata"]["name"]
        _kubectl(cluster, "apply", "-f", str(store_file))
        report(f"store {name}: applied {store_file.name}; waiting for Ready ...")
        _wait_ready(cluster, name, operator)
        report(_kubectl(cluster, "get", "stores", "-o", "wide"))
        report(_kubectl(cluster, "get", "store", name, "-o", f"jsonpath={CONDITIONS}"))

        shop_env = {**env, **_store_settings(cluster, name)}
        shop_env["STOREFLEET_DATA_DIR"] = str(directory / "shop")
        # A person reads this console; JSON logs are for the cluster's collectors.
        shop_env.setdefault("STOREFLEET_LOG_JSON", "false")
        shop = subprocess.Popen(
            [storefleet_command(), "runtime", "serve", "all", "--port", str(shop_port)],
            env=shop_env,
        )
        report(f"\nThe shop of store {name}: http://localhost:{shop_port}  (Ctrl-C stops all)")
        with contextlib.suppress(KeyboardInterrupt):
            shop.wait()
    except KeyboardInterrupt:
        report("interrupted")
    finally:
        if shop is not None and shop.poll() is None:
            shop.terminate()
            shop.wait(timeout=20)
        operator.stop()
        if started:
            stack.down(started, report=report)


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
        ready = cluster.kubectl(
            "wait", f"store/{name}", "--for=condition=Ready", "--timeout=5s"
        ).returncode
        if ready == 0:
            return
    raise RunError(
        f"store {name} not Ready after {READY_TIMEOUT}s:\n"
        + cluster.kubectl("describe", "store", name).stdout
    )


def _store_settings(cluster: Kubernetes, name: str) -> dict[str, str]:
    """The tenant's settings ConfigMap, as the environment its services get."""
    store = json.loads(_kubectl(cluster, "get", "store", name, "-o", "json"))
    namespace = store["status"]["namespace"]
    config = json.loads(
        _kubectl(cluster, "get", "configmap", "store-settings", "-n", namespace, "-o", "json")
    )
    return {key: value for key, value in config["data"].items() if key.startswith("STOREFLEET_")}
