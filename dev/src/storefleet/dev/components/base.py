"""What every dev stack component offers: install once, start, stop, report, export.

A component is one real server (or a few that only make sense together, such as
etcd and the Kubernetes control plane). `install` builds or installs it into
the cache and is slow only the first time; `up` starts it if it is not running
and returns once it answers; `env` says how clients reach it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from storefleet.dev.paths import state_dir
from storefleet.dev.processes import Process


@dataclass(frozen=True)
class Status:
    name: str
    running: bool
    detail: str
    pids: dict[str, int] = field(default_factory=dict)


class Component(ABC):
    name: str
    # Components that must be up before this one (by name).
    requires: tuple[str, ...] = ()
    # The server processes this component starts, in start order.
    process_names: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return state_dir(self.name)

    def process(self, name: str) -> Process:
        return Process(name, state_dir(self.name))

    @property
    def processes(self) -> list[Process]:
        return [self.process(name) for name in self.process_names]

    @abstractmethod
    def install(self) -> None:
        """Build or install the server once; later calls return at once."""

    @abstractmethod
    def up(self) -> None:
        """Start whatever is not running, then wait until it answers."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that point a client at this component."""

    @abstractmethod
    def describe(self) -> str:
        """One line for `stack status`: where it listens."""

    def down(self) -> list[str]:
        """Stop this component's processes, last started first."""
        return [proc.name for proc in reversed(self.processes) if proc.stop()]

    def running(self) -> bool:
        return all(proc.running() for proc in self.processes)

    def status(self) -> Status:
        pids = {proc.name: pid for proc in self.processes if (pid := proc.pid()) is not None}
        return Status(self.name, self.running(), self.describe(), pids)
