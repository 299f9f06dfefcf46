"""docs/crd-reference.md, generated from crds/ so the two cannot disagree."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from storefleet.operator import crds

HEADER = """# CRD reference

Generated from `crds/` by `storefleet operator crd-docs --output docs/crd-reference.md`;
edit the CRDs, not this file. The API server enforces everything below: a Store
or Vendor that breaks a rule is refused with the message shown.
"""


def _constraints(schema: Mapping[str, Any]) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, label in (
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
    ):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "pattern" in schema:
        parts.append(f"pattern `{schema['pattern']}`")
    if schema.get("x-kubernetes-list-type") in ("set", "map"):
        parts.append("unique")
    return "; ".join(parts)


def _type(schema: Mapping[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = str(schema.get("type", "any"))
    if kind == "array" and "items" in schema:
        return f"[]{_type(schema['items'])}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return f"map[string]{_type(schema['additionalProperties'])}"
    return kind


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _fields(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    required = set(schema.get("required", []))
    properties: Mapping[str, Any] = schema.get("properties") or {}
    shapes = list(properties.values())
    if len(shapes) > 2 and all(shape == shapes[0] for shape in shapes):
        # Keyed blocks of one shape (services.accounts, services.catalog, ...): document once.
        keys = ", ".join(properties)
        properties = {"<key>": {**shapes[0], "description": f"One block per key: {keys}."}}
    for name, sub in properties.items():
        where = f"{path}.{name}" if path else name
        yield where, sub, name in required
        if sub.get("type") == "object":
            yield from _fields(sub, where)
        elif sub.get("type") == "array" and "items" in sub:
            yield from _fields(sub["items"], f"{where}[]")


def _rules(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, str, str]]:
    for rule in schema.get("x-kubernetes-validations") or []:
        yield path or "(object)", rule["rule"], rule.get("message", "")
    for name, sub in (schema.get("properties") or {}).items():
        yield from _rules(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from _rules(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _rules(schema["additionalProperties"], f"{path}.*")


def _crd_section(crd: Mapping[str, Any]) -> list[str]:
    spec = crd["spec"]
    names = spec["names"]
    lines = []
    for version in spec["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        lines += [
            f"## {names['kind']} (`{spec['group']}/{version['name']}`)",
            "",
            _cell(root.get("description", "")),
            "",
            f"- Scope: {spec['scope']}; plural `{names['plural']}`"
            + (f"; short names {', '.join(f'`{n}`' for n in names.get('shortNames', []))}"),
            "- Status subresource: "
            + ("yes" if "status" in version.get("subresources", {}) else "no"),
            "",
            "### Columns of `kubectl get`",
            "",
            "| Column | From | Shown |",
            "|---|---|---|",
        ]
        for column in version.get("additionalPrinterColumns", []):
            shown = "`-o wide`" if column.get("priority", 0) else "always"
            lines.append(f"| {column['name']} | `{_cell(column['jsonPath'])}` | {shown} |")
        for part in ("spec", "status"):
            sub = root["properties"].get(part)
            if sub is None:
                continue
            lines += [
                "",
                f"### `{part}`",
                "",
                "| Field | Type | Required | Default | Constraints | Description |",
                "|---|---|---|---|---|---|",
            ]
            for path, field, required in _fields(sub, part):
                default = f"`{json.dumps(field['default'])}`" if "default" in field else ""
                lines.append(
                    f"| `{path}` | {_type(field)} | {'yes' if required else ''} | {_cell(default)} "
                    f"| {_cell(_constraints(field))} | {_cell(field.get('description', ''))} |"
                )
        rules = list(_rules(root, ""))
        if rules:
            lines += [
                "",
                "### Validation rules (CEL)",
                "",
                "| Where | Refused with |",
                "|---|---|",
            ]
            lines += [f"| `{where}` | {_cell(message)} |" for where, _, message in rules]
        lines.append("")
    return lines


def reference(crds_dir: Path) -> str:
    lines = [HEADER]
    for crd in crds.load(crds_dir):
        lines += _crd_section(crd)
    return "\n".join(lines).rstrip() + "\n"
