"""Start servers detached, remember them by pid file, and stop them by pid.

Servers outlive the command that started them (`stack up` returns while they
run), so each one gets its own session, a log file instead of our stdout, and a
pid file that `stack down` and `stack status` read.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StartError(RuntimeError):
    """A server did not come up; the message names its log file."""


@dataclass(frozen=True)
class Process:
    """One server process of a component, known by its pid file."""

    name: str
    directory: Path

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid if that process still runs and is the one we started.

        The file also records the process's start time: after a reboot or a
        killed session the number may belong to some other process by now.
        """
        try:
            recorded_pid, recorded_start = self.pid_file.read_text().split()
            pid = int(recorded_pid)
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) and _start_time(pid) == recorded_start else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> int:
        """Start argv detached unless it already runs; return its pid."""
        existing = self.pid()
        if existing is not None:
            return existing
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # Switching user in the child itself (not via runuser/su) keeps the
            # pid file pointing at the server, the process `down` must signal.
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                **as_user(user),
            )
        self.pid_file.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after timeout; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess keyword arguments that run a child as `user` (None: as ourselves)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _start_time(pid: int) -> str:
    """Clock ticks since boot when pid started (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return "gone"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_port_free(port: int, process: Process) -> None:
    """Fail clearly when something else holds our port, instead of a bind error in a log."""
    if port_open(port):
        raise StartError(
            f"cannot start {process.name}: port {port} on 127.0.0.1 is taken by another "
            "process (a server still stopping, or one not started by this stack)"
        )


def wait_until(
    check: Callable[[], bool],
    *,
    process: Process,
    what: str,
    timeout: float = 60.0,
    interval: float = 0.2,
) -> None:
    """Poll check() until it holds; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not process.running():
            raise StartError(
                f"{process.name} exited before {what}; see {process.log_file}:\n"
                f"{process.log_tail()}"
            )
        time.sleep(interval)
    raise StartError(
        f"{process.name}: no {what} after {timeout:.0f}s; see {process.log_file}:\n"
        f"{process.log_tail()}"
    )


def run_checked(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a host command (ip, iptables, ...); with check, a failure is a StartError."""
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise StartError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def http_ok(url: str) -> bool:
    """Whether a server's health endpoint answers 200 (a server still starting does not)."""
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
