"""Data in, YAML out: renders templates/ for one Store's context.

Templates emit YAML; every scalar that comes from user data goes through the
`j` filter (JSON, which is valid YAML), so a display name with a colon or a
quote cannot change the document's shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
import yaml

from storefleet.operator.vocabulary import Routing

# Rendered in this order; the first is applied first (everything else lives in it).
# `when` names a context flag that must hold for the template to render.
TEMPLATES: Final[tuple[tuple[str, str | None], ...]] = (
    ("namespace.yaml.j2", None),
    ("serviceaccount.yaml.j2", None),
    ("resourcequota.yaml.j2", None),
    ("limitrange.yaml.j2", None),
    ("networkpolicies.yaml.j2", None),
    ("configmap.yaml.j2", None),
    ("credentials.yaml.j2", None),
    ("datastores.yaml.j2", None),
    ("deployments.yaml.j2", None),
    ("jobs.yaml.j2", None),
    ("services.yaml.j2", None),
    ("hpas.yaml.j2", None),
    ("pdbs.yaml.j2", None),
    ("ingress.yaml.j2", "uses_ingress"),
    ("istio/gateway.yaml.j2", "uses_istio"),
    ("istio/virtualservices.yaml.j2", "uses_istio"),
    ("istio/destinationrules.yaml.j2", "uses_istio"),
    ("istio/peerauthentication.yaml.j2", "uses_istio"),
    ("istio/authorizationpolicies.yaml.j2", "uses_istio"),
)


# libyaml's parser: the pure-Python one spent seconds per reconcile on ~60 objects.
_LOADER: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ObjectKey:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return ObjectKey(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _json(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, sort_keys=True)


@cache
def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["j"] = _json
    env.filters["b64"] = _b64
    return env


# Rendering (mostly YAML parsing) costs ~30 ms a Store; the drift timer re-renders every
# Store every interval, so unchanged contexts reuse their objects. Callers must not
# mutate what render() returns.
_CACHE: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_CACHE_SIZE: Final = 4096


def render(context: Mapping[str, Any], templates_dir: Path) -> list[dict[str, Any]]:
    """Every object the Store wants, in apply order."""
    key = hashlib.sha256(
        json.dumps([str(templates_dir), context], sort_keys=True, default=repr).encode()
    ).hexdigest()
    if (cached := _CACHE.get(key)) is not None:
        _CACHE.move_to_end(key)
        return cached
    objects = _render(context, templates_dir)
    _CACHE[key] = objects
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return objects


def _render(context: Mapping[str, Any], templates_dir: Path) -> list[dict[str, Any]]:
    env = _environment(templates_dir)
    flags = {
        "uses_istio": context["routing"] == Routing.ISTIO,
        "uses_ingress": context["routing"] == Routing.INGRESS,
    }
    labels: Mapping[str, str] = context["labels"]
    owner = context["owner"]

    def meta(name: str, extra: Mapping[str, str] | None = None, namespaced: bool = True) -> str:
        metadata: dict[str, Any] = {"name": name, "labels": {**labels, **(extra or {})}}
        if namespaced:
            metadata["namespace"] = context["namespace"]
        if owner.get("uid"):
            metadata["ownerReferences"] = [{**owner, "controller": True}]
        return _json(metadata)

    objects: list[dict[str, Any]] = []
    for template_name, when in TEMPLATES:
        if when is not None and not flags[when]:
            continue
        text = env.get_template(template_name).render(**context, meta=meta)
        for document in yaml.load_all(text, Loader=_LOADER):
            if document:
                objects.append(document)
    return objects


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
