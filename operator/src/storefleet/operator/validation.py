"""Offline checks that a rendered object has the shape its API expects.

Kubernetes kinds are checked with the official client's generated models, which
refuse unknown fields, wrong types and missing required fields. Kinds defined
by CRDs (Istio's) are checked against the CRD's OpenAPI schema when one is at
hand. The API server stays the final judge: the operator applies with strict
field validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storefleet.operator import schema
from storefleet.operator.kinds import kind_of


def check_object(
    obj: Mapping[str, Any], crd_schemas: Mapping[tuple[str, str], schema.Schema] | None = None
) -> list[str]:
    """Problems with one object; [] when its shape fits its kind's schema.

    crd_schemas maps (apiVersion, kind) to an OpenAPI schema for CRD-defined kinds;
    such kinds without an entry are not checked.
    """
    kind = kind_of(obj["apiVersion"], obj["kind"])
    if kind.model is None:
        found = (crd_schemas or {}).get((kind.api_version, kind.kind))
        return schema.validate(found, dict(obj)) if found is not None else []
    from kubernetes import client  # the sync client is only needed here
    from pydantic import ValidationError

    try:
        getattr(client, kind.model).model_validate(dict(obj))
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
    return []


def crd_schemas_of(crds: list[Mapping[str, Any]]) -> dict[tuple[str, str], schema.Schema]:
    """(apiVersion, kind) -> schema, for every served version of every CRD given."""
    found: dict[tuple[str, str], schema.Schema] = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served") and "schema" in version:
                api_version = f"{spec['group']}/{version['name']}"
                found[(api_version, spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return found
