"""The platform kernel's layers: a lower layer never imports a higher one.

``runtime/platform`` is split by concern into subpackages, stacked in
:data:`LAYERS` from the bottom up. A module may import its own unit and any
unit of a lower layer; never one of its own layer beside it, nor one above.
The event model (``events.model``) is a unit of its own, below the rest of
``events``: tracing and the business counters name an ``Event`` while the
outbox and the buses are traced and counted.

The kernel serves the bounded contexts and imports none of them: nothing of
Storefleet outside the platform, apart from the runtime's package itself
(``storefleet.runtime``, whose folder the settings reference walks).

Every import counts: at module level, inside a function and under ``if
TYPE_CHECKING:``. The modules are read with :mod:`ast`, never imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[3]
PLATFORM: Final = "storefleet.runtime.platform"
# The one module of Storefleet outside the platform the platform may import.
RUNTIME: Final = "storefleet.runtime"

# From the bottom up; the units of one layer stay out of each other.
LAYERS: Final[Sequence[tuple[str, ...]]] = (
    ("config",),
    ("events.model",),
    ("storage", "telemetry"),
    ("events", "web"),
    ("identity", "resilience"),
)


def modules(folder: Path) -> dict[str, Path]:
    """The platform's modules by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PLATFORM, *parts))] = path
    return found


def unit_of(module: str, layers: Sequence[tuple[str, ...]] = LAYERS) -> str | None:
    """The most specific unit a platform module belongs to, or None."""
    relative = module.removeprefix(PLATFORM).lstrip(".")
    units = [unit for layer in layers for unit in layer]
    matching = [u for u in units if relative == u or relative.startswith(u + ".")]
    return max(matching, key=len, default=None)


def rank(unit: str, layers: Sequence[tuple[str, ...]] = LAYERS) -> int:
    return next(i for i, layer in enumerate(layers) if unit in layer)


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import of Storefleet in a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            # ``from pkg import name``: the module pkg.name when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "storefleet" or target.startswith("storefleet."):
                yield target, node.lineno


def violations(
    folder: Path, layers: Sequence[tuple[str, ...]] = LAYERS, root: Path = ROOT
) -> list[str]:
    known = modules(folder)
    found = []
    for name, path in known.items():
        where = path.relative_to(root)
        if name == PLATFORM:
            continue
        unit = unit_of(name, layers)
        if unit is None:
            found.append(f"{where}: {name} belongs to no layer; put it in one of {layers}")
            continue
        for target, line in imports(name, path, known):
            if target == RUNTIME:
                continue
            if target != PLATFORM and not target.startswith(PLATFORM + "."):
                found.append(f"{where}:{line}: {name} imports {target}, outside the platform")
                continue
            other = unit_of(target, layers)
            if other is None or other == unit:
                continue
            if rank(other, layers) >= rank(unit, layers):
                found.append(
                    f"{where}:{line}: {name} ({unit}) imports {target} ({other}),"
                    " which is not in a lower layer"
                )
    return found


def test_no_platform_module_imports_a_higher_layer_or_a_bounded_context() -> None:
    found = violations(ROOT / "runtime/src/storefleet/runtime/platform")
    assert not found, "the platform's layers (bottom up: {}):\n  {}".format(
        " < ".join("/".join(layer) for layer in LAYERS), "\n  ".join(found)
    )


def test_every_kind_of_import_counts(tmp_path: Path) -> None:
    """Where a wrong import hides: in a function, under TYPE_CHECKING, in a relative import."""
    folder = tmp_path / "runtime" / "platform"
    files = {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": (
            "def later():\n    from storefleet.runtime.platform.high import b\n"
            "from storefleet.runtime.platform.low.model import Thing\n"
        ),
        "low/model.py": "from ..low import a\n",
        "high/__init__.py": "",
        "high/b.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from storefleet.runtime.catalog import service\n"
            "import storefleet.runtime\n"
            "from storefleet.runtime.platform.low import a\n"
        ),
        "side/__init__.py": "",
        "side/c.py": "from storefleet.runtime.platform.high.b import name\n",
        "stray.py": "",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    layers = (("low.model",), ("low",), ("high", "side"))
    found = violations(folder, layers, tmp_path)
    assert [line.split(": ", 1)[0] for line in found] == [
        "runtime/platform/high/b.py:3",
        "runtime/platform/low/a.py:2",
        "runtime/platform/low/model.py:1",
        "runtime/platform/side/c.py:1",
        "runtime/platform/stray.py",
    ]
