"""Settings for the length of a block: environment variables set, then put back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import pytest


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Sets ``values`` in ``os.environ`` and restores what was there on the way out,
    for fixtures wider than one test (``monkeypatch`` is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield
