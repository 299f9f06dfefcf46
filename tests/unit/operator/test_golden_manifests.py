"""The objects a tenant gets, compared line by line with checked-in golden manifests.

The lifecycle tests check that what the operator renders is applied and pruned; this
checks what it renders. tests/golden/regenerate.py names the cases and writes the
goldens; a diff here is either a regression or a deliberate change to review and
regenerate.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _goldens() -> ModuleType:
    """tests/golden/regenerate.py, which is a script and not on the import path."""
    name = "storefleet_golden_cases"
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests/golden/regenerate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


golden = _goldens()


@pytest.mark.parametrize("case", golden.CASES, ids=[case.name for case in golden.CASES])
def test_a_fresh_render_matches_the_golden_manifests(case: Any) -> None:
    path: Path = case.path
    assert path.exists(), f"no golden for {case.name}: run `{golden.REGENERATE}`"
    rendered: str = golden.render(case)
    expected = path.read_text()
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=f"tests/golden/{path.name} (checked in)",
                tofile=f"render of {case.name} (now)",
                n=4,
            )
        )
        pytest.fail(
            f"the render of {case.name} differs from its golden manifests.\n"
            f"If the change is intended, run `{golden.REGENERATE}` and review "
            f"`git diff tests/golden/`.\n\n{diff}",
            pytrace=False,
        )


def test_the_goldens_are_exactly_the_cases() -> None:
    """A golden without a case would never be compared again."""
    on_disk = {p.name for p in (ROOT / "tests/golden").glob("*.yaml")}
    assert on_disk == {case.path.name for case in golden.CASES}


def test_the_render_is_deterministic() -> None:
    """Two renders of one Store are the same text: nothing in the goldens varies by run."""
    case = golden.CASES[-1]
    assert golden.render(case) == golden.render(case)
