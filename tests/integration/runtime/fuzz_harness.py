"""Schemathesis against a service served for real, as `storefleet runtime serve`
runs it: the one way every fuzz test starts its service and runs the fuzzer.

A finding is a 5xx, an answer that disagrees with the published schema, or
invalid input that is not refused. ``STOREFLEET_FUZZ_SECONDS`` sets the budget.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
BUDGET_SECONDS = os.environ.get("STOREFLEET_FUZZ_SECONDS", "20")
# Schema-valid requests that break a rule JSON Schema cannot express (dates in
# order, distinct SKUs, a template that does not render) are refused with 422
# by design; this check would count those against the service.
POSITIVE_DATA = "positive_data_acceptance"
SEED = "20261125"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedService:
    """`storefleet runtime serve <name>` on a free port, ready when constructed."""

    def __init__(
        self, name: str, env: dict[str, str], workdir: Path, args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        environment = os.environ | {"STOREFLEET_LOG_JSON": "false"} | env
        # Embedded: the fuzzer's requests must not reach a developer's Kafka.
        environment.pop("STOREFLEET_EVENTS_BOOTSTRAP_SERVERS", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "storefleet"),
                    "runtime",
                    "serve",
                    name,
                    "--port",
                    str(self.port),
                    *args,
                ],
                env=environment,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{name} did not become ready: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def served(
    name: str, env: dict[str, str], workdir: Path, args: Sequence[str] = ()
) -> Iterator[ServedService]:
    service = ServedService(name, env, workdir, args)
    try:
        yield service
    finally:
        service.stop()


def assert_no_findings(
    service: ServedService,
    report_dir: Path,
    *,
    exclude: Sequence[str] = (POSITIVE_DATA,),
    headers: Sequence[str] = (),
    schema: Path | None = None,
    checks: str = "all",
) -> None:
    """Run schemathesis (``checks`` but ``exclude``) with these request headers,
    against the service's own OpenAPI document or ``schema`` (a file)."""
    command = [str(BIN / "schemathesis"), "run"]
    command += [str(schema), "--url", service.url] if schema else [f"{service.url}/openapi.json"]
    for header in headers:
        command += ["--header", header]
    command += ["--checks", checks]
    if exclude:
        command += ["--exclude-checks", ",".join(exclude)]
    command += [
        "--max-time",
        BUDGET_SECONDS,
        "--workers",
        "1",
        # Generous: CI runs this beside the whole suite on two cores.
        "--request-timeout",
        "30",
        "--seed",
        SEED,
        "--report-dir",
        str(report_dir),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        result.stdout[-8000:] + f"\n--- {service.name} log ---\n" + service.log_tail()
    )
