"""The runtime's configuration reference (docs/runtime-settings.md), read from the code.

Every settings class of the runtime is a pydantic-settings model; its fields,
defaults and limits are the truth, and the comments above each field say why
it is there. This module renders them as one table per class, so the reference
lists every setting and cannot drift: a unit test compares the file with
:func:`reference`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin
from unittest import mock

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

import storefleet.runtime

# A module defines a settings class if a line of it reads like one.
_DEFINES_SETTINGS: Final = re.compile(r"^class \w+\(\w*Settings\):", re.MULTILINE)
# Shown first, in this order; the services' own classes follow by name.
SHARED: Final = ("ServiceSettings", "StoreSettings", "EventsSettings", "AuthSettings")
_TYPE_NAMES: Final = {
    "str": "text",
    "int": "integer",
    "float": "number",
    "bool": "true/false",
    "Path": "path",
}
_LIMITS: Final = (
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Le, "le", "≤ {}"),
    (annotated_types.Lt, "lt", "< {}"),
)

HEADER: Final = """\
# Runtime settings

Generated from the runtime's settings classes by
`storefleet runtime settings-docs --output docs/runtime-settings.md`; do not
edit by hand. Every service reads environment variables under its own prefix,
so one process (`serve all`) can host several with different databases.

Defaults are those of a laptop. In a pod (`KUBERNETES_SERVICE_HOST` set) the
other services' URLs default to `http://<service>:8000`, state lives under
`/var/lib/storefleet`, and Kafka topics are not created by the services (the
operator does it). The operator sets what a Store's Deployments need; see
docs/runtime.md for how the pieces fit.
"""


def _modules_with_settings() -> list[str]:
    """Every runtime module that declares a settings class (migrations aside:
    importing those runs them)."""
    root = Path(storefleet.runtime.__file__).parent
    return [
        "storefleet.runtime." + ".".join(path.relative_to(root).with_suffix("").parts)
        for path in sorted(root.rglob("*.py"))
        if "migrations" not in path.parts and _DEFINES_SETTINGS.search(path.read_text())
    ]


def settings_classes() -> list[type[BaseSettings]]:
    modules = _modules_with_settings()
    found: dict[str, type[BaseSettings]] = {}
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found[value.__name__] = value
    first = [found[name] for name in SHARED if name in found]
    rest = sorted((c for n, c in found.items() if n not in SHARED), key=lambda c: c.__name__)
    return first + rest


def _comments(cls: type) -> dict[str, str]:
    """The comment block right above each field of the class body, joined."""
    source = textwrap.dedent("".join(inspect.getsourcelines(cls)[0]))
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        if above:
            found[node.target.id] = " ".join(above)
    return found


def _default(info: FieldInfo) -> str:
    if info.default_factory is None:
        value: Any = info.default
    else:
        # In a clean environment: the default a fresh laptop gets.
        with mock.patch.dict(os.environ, {}, clear=True):
            factory: Any = info.default_factory
            value, again = factory(), factory()
        if value != again:
            return "generated at start"
    if value is None or (isinstance(value, str) and not value):
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "(empty)"
    return f"`{value}`"


def _limits(info: FieldInfo) -> str:
    found: list[str] = []
    for item in info.metadata:
        found += [
            text.format(getattr(item, attr))
            for kind, attr, text in _LIMITS
            if isinstance(item, kind)
        ]
        if pattern := getattr(item, "pattern", None):
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


def _type(info: FieldInfo) -> str:
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    name = getattr(annotation, "__name__", str(annotation))
    return _TYPE_NAMES.get(name, name)


def _rows(cls: type[BaseSettings], own_only: bool) -> Iterator[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if (
            isinstance(klass, type)
            and issubclass(klass, BaseSettings)
            and klass is not BaseSettings
        ):
            comments.update(_comments(klass))
    inherited = {
        name
        for base in cls.__mro__[1:]
        if isinstance(base, type) and issubclass(base, BaseSettings)
        for name in getattr(base, "model_fields", {})
    }
    for name, info in cls.model_fields.items():
        if own_only and name in inherited:
            continue
        what = info.description or comments.get(name, "")
        limits = _limits(info)
        meaning = " ".join((what, f"({limits})" if limits else "")).strip().replace("|", "\\|")
        yield f"| `{(prefix + name).upper()}` | {_type(info)} | {_default(info)} | {meaning} |"


def reference() -> str:
    out = [HEADER]
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        title = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        out.append(f"## {cls.__name__} (`{prefix}*`)\n")
        if title and cls.__doc__:
            out.append(f"{title}\n")
        if cls.__name__ == "ServiceSettings":
            out.append(
                "Every service has these under its own prefix "
                "(`STOREFLEET_CATALOG_DATABASE_URL`, ...). `DATABASE_URL`, `CACHE_URL`, "
                "`CACHE_PREFIX`, `DATA_DIR` and `LOG_LEVEL` also fall back to the "
                "process-wide `STOREFLEET_<NAME>`, which is what the operator sets for "
                "a Deployment that runs one service.\n"
            )
        base = cls.__mro__[1]
        own_only = base is not BaseSettings
        if own_only:
            out.append(f"Plus every setting of {base.__name__}, as `{prefix}<NAME>`.\n")
        rows = list(_rows(cls, own_only))
        if rows:
            out.append("| variable | type | default | notes |\n| --- | --- | --- | --- |")
            out.extend(rows)
            out.append("")
    return "\n".join(out).rstrip() + "\n"
