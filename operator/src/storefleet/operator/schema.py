"""OpenAPI v3 (structural, Kubernetes flavour) defaulting and validation, offline.

The API server is the real judge of a Store; this lets `storefleet operator render`,
the unit tests and the examples' tests apply the CRD's defaults and catch
schema errors without a cluster. CEL rules are left to the API server.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

Schema = Mapping[str, Any]

# The API server accepts these on every object, whether the CRD's schema names them or not.
_IMPLICIT_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@cache
def load_crd(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        crd: dict[str, Any] = yaml.safe_load(handle)
    return crd


def crd_schema(crd: Mapping[str, Any], version: str | None = None) -> Schema:
    for entry in crd["spec"]["versions"]:
        if (version is None and entry.get("storage")) or entry["name"] == version:
            schema: Schema = entry["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{crd['metadata']['name']} has no version {version or '(storage)'}")


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Returns a copy of value with the schema's defaults filled in, as the API server does."""
    return _default(schema, copy.deepcopy(value))


def _default(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            if key in properties:
                value[key] = _default(properties[key], item)
            elif isinstance(schema.get("additionalProperties"), Mapping):
                value[key] = _default(schema["additionalProperties"], item)
    elif isinstance(value, list) and "items" in schema:
        return [_default(schema["items"], item) for item in value]
    return value


def validate(schema: Schema, value: Any, path: str = "") -> list[str]:
    """Every way value breaks the schema, as 'path: problem' strings; [] when it fits.

    Unknown fields count as errors, as with kubectl's default strict field validation.
    """
    errors: list[str] = []
    _check(schema, value, path or "<root>", errors)
    return errors


def _check(schema: Schema, value: Any, path: str, errors: list[str]) -> None:
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            errors.append(f"{path}: must be an integer or a string")
            return
    elif "type" in schema:
        expected = _TYPES[schema["type"]]
        if not isinstance(value, expected) or (
            isinstance(value, bool) and schema["type"] != "boolean"
        ):
            errors.append(f"{path}: must be of type {schema['type']}")
            return
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: unsupported value {value!r}, supported: {schema['enum']}")
    if isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: must be at most {schema['maximum']}")
    elif isinstance(value, list):
        _check_array(schema, value, path, errors)
    elif isinstance(value, dict):
        _check_object(schema, value, path, errors)


def _check_string(schema: Schema, value: str, path: str, errors: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: must be at most {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']!r}")


def _check_array(schema: Schema, value: list[Any], path: str, errors: list[str]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: must have at most {schema['maxItems']} items")
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set" and len({repr(item) for item in value}) != len(value):
        errors.append(f"{path}: duplicate entries")
    if list_type == "map":
        keys = [
            tuple(item.get(k) for k in schema.get("x-kubernetes-list-map-keys", []))
            for item in value
            if isinstance(item, dict)
        ]
        if len(set(keys)) != len(keys):
            errors.append(f"{path}: duplicate entries for keys {keys}")
    for index, item in enumerate(value):
        if "items" in schema:
            _check(schema["items"], item, f"{path}[{index}]", errors)


def _check_object(schema: Schema, value: dict[str, Any], path: str, errors: list[str]) -> None:
    for key in schema.get("required", []):
        if key not in value:
            errors.append(f"{path}.{key}: required")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{path}: must have at most {schema['maxProperties']} properties")
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for key, item in value.items():
        where = f"{path}.{key}" if path != "<root>" else key
        if properties is not None and key in properties:
            _check(properties[key], item, where, errors)
        elif isinstance(additional, Mapping):
            _check(additional, item, where, errors)
        elif additional is True or preserve or (path == "<root>" and key in _IMPLICIT_ROOT_FIELDS):
            continue
        elif properties is not None or additional is False:
            errors.append(f"{where}: unknown field")
        # An object without properties (such as metadata) accepts anything.
