from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from storefleet.dev.processes import Process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_started_process_is_found_by_its_pid_file_and_stopped(tmp_path: Path) -> None:
    proc = Process("sleeper", tmp_path)
    pid = proc.start(SLEEPER)
    assert proc.pid() == pid
    assert proc.start(SLEEPER) == pid, "starting twice must not start a second copy"
    assert proc.stop(timeout=5)
    assert proc.pid() is None
    assert not proc.pid_file.exists()


def test_a_pid_file_left_from_another_boot_is_not_mistaken_for_our_server(tmp_path: Path) -> None:
    proc = Process("server", tmp_path)
    # Our own pid is alive, but it did not start at the recorded time.
    proc.pid_file.write_text(f"{os.getpid()} 1\n")
    assert proc.pid() is None
    assert not proc.stop(), "stop must never signal a process it did not start"


def test_a_process_that_exits_is_reported_gone_and_its_log_kept(tmp_path: Path) -> None:
    proc = Process("quitter", tmp_path)
    proc.start([sys.executable, "-c", "print('bad flag: --nope')"])
    for _ in range(100):
        if proc.pid() is None:
            break
        time.sleep(0.05)
    assert proc.pid() is None
    assert "bad flag: --nope" in proc.log_tail()
