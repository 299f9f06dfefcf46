"""Stateful fuzzing: schemathesis follows OpenAPI links from what a request
created to the requests that act on it (create a product, then read, change,
archive it; authorize a payment, then capture, void, refund it).

The services publish no links, so each test declares its own (``Link``) and
adds them to its copy of the service's OpenAPI document; schemathesis builds a
state machine from them (a rule per link, creating operations as the roots).
Where random values would never get past the first step, the test narrows the
request schema in its copy (``narrow``): the shop's own category, the
sandbox's card tokens. Answers are still checked against the schema as
published.

A finding is a 5xx, an answer that disagrees with the schema (status, content
type, headers, body), or a 4xx that is not ``application/problem+json``.
The machine runs in a thread, against the services served on real ports in
the test's event loop.
"""

from __future__ import annotations

import copy
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis.errors import FlakyStrategyDefinition
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi import stateful as openapi_stateful
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

Case = schemathesis.Case[Any]
PROBLEM_JSON = "application/problem+json"
# How much each service's machine runs: scenarios of up to this many steps,
# and no new run (after Hypothesis stopped one, below) past this many seconds.
SCENARIOS = int(os.environ.get("STOREFLEET_FUZZ_SCENARIOS", "10"))
STEPS = 8
SECONDS = float(os.environ.get("STOREFLEET_FUZZ_SECONDS", "10"))


def refusals_are_problems(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Every 4xx of a JSON API is ``application/problem+json`` (docs/security.md)."""
    if 400 <= response.status_code < 500:
        media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
        if media_type != PROBLEM_JSON:
            raise Failure(
                operation=case.operation.label,
                title="Refusal is not application/problem+json",
                message=f"{response.status_code} answered as {media_type or 'no content type'}",
            )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    refusals_are_problems,
]


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: after ``source`` answers ``status``, ``target`` may be
    called with these parameters (``path.key``, ``query.email``,
    ``header.x-cart-id``) and body fields, as runtime expressions."""

    source: str
    status: int
    target: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    # Merge ``body`` into a generated one (its lists item by item), or send
    # it as it is: a return of one line, not that line and random others.
    merge: bool = True


def _operation(document: dict[str, Any], label: str) -> dict[str, Any]:
    method, path = label.split(" ", 1)
    operation: dict[str, Any] = document["paths"][path][method.lower()]
    return operation


def linked(document: dict[str, Any], links: Sequence[Link]) -> dict[str, Any]:
    """A copy of the OpenAPI document with these links on its responses."""
    document = copy.deepcopy(document)
    for number, link in enumerate(links):
        responses = _operation(document, link.source)["responses"]
        target = _operation(document, link.target)["operationId"]
        definition: dict[str, Any] = {"operationId": target, "parameters": dict(link.parameters)}
        if link.body is not None:
            definition["requestBody"] = dict(link.body)
        if not link.merge:
            definition["x-schemathesis"] = {"merge_body": False}
        response = responses.setdefault(str(link.status), {"description": "linked"})
        response.setdefault("links", {})[f"{target}-{number}"] = definition
    return document


def narrow(document: dict[str, Any], component: str, prop: str, schema: dict[str, Any]) -> None:
    """Generate ``prop`` of the request body ``component`` from ``schema`` only."""
    document["components"]["schemas"][component]["properties"][prop] = schema


def require(document: dict[str, Any], component: str, prop: str) -> None:
    """Always generate ``prop`` of the request body ``component``."""
    schema = document["components"]["schemas"][component]
    schema["required"] = sorted({*schema.get("required", ()), prop})


def drop(document: dict[str, Any], component: str, prop: str) -> None:
    """Never generate ``prop`` of the request body ``component``."""
    properties = document["components"]["schemas"][component]["properties"]
    properties.pop(prop)


Headers = Callable[[Case], Mapping[str, str | None]]
Observer = Callable[[Case, schemathesis.Response], None]


def _no_headers(case: Case) -> Mapping[str, str | None]:
    return {}


def _nothing(case: Case, response: schemathesis.Response) -> None:
    return None


def _state_machine(schema: Any, roots: Collection[str] | None) -> Any:
    """The schema's state machine, starting from ``roots`` or else from the
    creates: linked POSTs to a collection.

    schemathesis would also start from a random order id's fulfilment (a POST
    too), and pass over a create whose body names something no operation
    makes (a cart line's SKU, a product's vendor); here the schema is
    narrowed so that those creates succeed. (schemathesis 4.32 has no
    setting for this: its classification is swapped for the build.)
    """
    classify = openapi_stateful.classify_root_transitions

    def starting_points(operations: Any, transitions: Any, graph: Any) -> Any:
        found = classify(operations, transitions, graph)
        candidates = found.reliable | found.fallback
        if roots is not None:
            found.reliable = candidates & set(roots)
        else:
            found.reliable = {
                label for label in candidates if label.startswith("POST ") and "{" not in label
            }
        return found

    openapi_stateful.classify_root_transitions = starting_points
    try:
        return schema.as_state_machine()
    finally:
        openapi_stateful.classify_root_transitions = classify


def run_stateful(
    document: dict[str, Any],
    base_url: str,
    *,
    headers: Headers = _no_headers,
    after: Observer = _nothing,
    scenarios: int = SCENARIOS,
    steps: int = STEPS,
    seconds: float = SECONDS,
    roots: Collection[str] | None = None,
    invalid: bool = True,
) -> Counter[tuple[str, int]]:
    """Run the state machine of this (linked) document against ``base_url``.

    ``headers(case)`` are the caller's credentials and the like for each
    request; they replace what was generated for the same names (``None``:
    send none). ``after`` sees each answer (to do what a shopper would do
    next, such as follow the e-mailed link). Blocking: call it in a thread.
    Returns how often each operation answered each status, to show how far
    the runs got.
    """
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "request-timeout": 60,
            # Only the links declared here, not ones guessed from names.
            "phases": {"stateful": {"inference": {"algorithms": []}, "max-steps": steps}},
            # Invalid input too (one step in ten), unless the run is after depth.
            "generation": {"mode": "all" if invalid else "positive"},
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)

    class Workflow(_state_machine(schema, roots)):  # type: ignore[misc]
        started = 0

        def setup(self) -> None:
            type(self).started += 1

        def before_call(self, case: Case) -> None:
            extra = headers(case)
            if extra:
                names = {name.lower() for name in extra}
                kept = {k: v for k, v in (case.headers or {}).items() if k.lower() not in names}
                sent = {k: v for k, v in extra.items() if v is not None}
                case.headers = CaseInsensitiveDict(kept | sent)

        def after_call(self, response: schemathesis.Response, case: Case) -> None:
            super().after_call(response, case)
            answers[case.operation.label, response.status_code] += 1
            after(case, response)

        def validate_response(
            self,
            response: schemathesis.Response,
            case: Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    answers: Counter[tuple[str, int]] = Counter()
    deadline = time.monotonic() + seconds
    while Workflow.started < scenarios and time.monotonic() < deadline:
        settings = hypothesis.settings(
            max_examples=scenarios - Workflow.started,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        try:
            Workflow.run(settings=settings)
        except FlakyStrategyDefinition:
            # The services remember what earlier scenarios did (a slug is
            # taken now), so a replayed prefix may find a bundle empty that
            # was not: Hypothesis stops that run; the next one goes on with
            # the scenarios left. (A failure that did not recur is
            # FlakyFailure, and raised.)
            continue
    return answers


def assert_went_past(answers: Counter[tuple[str, int]], create: str) -> None:
    """The runs created something and acted on it: not every request refused."""
    assert any(label == create and status < 300 for label, status in answers), answers
    acted = [label for label, status in answers if label != create and status < 300]
    assert acted, answers
