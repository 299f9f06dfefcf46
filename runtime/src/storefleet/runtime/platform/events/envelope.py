"""How an event looks on the wire: a versioned, CloudEvents-shaped JSON envelope.

Structured mode (CloudEvents 1.0 JSON format): the Kafka record's value is the
whole envelope, and the record's headers repeat the routing attributes
(``ce_id``, ``ce_type``, ...) so a tool can filter without parsing the body.

``dataversion`` (an extension attribute) is the version of the ``data``
schema of that event type: a consumer that meets a version it does not know
can refuse it (it then goes to the dead-letter topic) instead of misreading it.

``traceparent`` and ``tracestate`` (the CloudEvents distributed-tracing
extension, also as ``ce_traceparent``/``ce_tracestate`` headers) carry the W3C
trace context of the publish, so a consumer's span joins the trace of the
change that caused the event. Both are optional; a malformed one is dropped
on decoding (the consumer starts a new trace), never a reason to refuse the event.
See docs/events.md for every type and its payload.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from storefleet.runtime.platform.events.model import Event, utcnow
from storefleet.runtime.platform.telemetry import tracing

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"

# One Kafka topic per stream; the operator creates `store.<store>.<stream>`.
STREAMS: Final = (
    "accounts",
    "catalog",
    "cart",
    "orders",
    "payments",
    "notifications",
    "analytics",
    "vendors",
    "dead-letter",
)
DEAD_LETTER: Final = "dead-letter"
# The first segment of an event type names its context; singular or plural.
_CONTEXT_STREAM: Final = {
    "account": "accounts",
    "accounts": "accounts",
    "customer": "accounts",
    "catalog": "catalog",
    "cart": "cart",
    "order": "orders",
    "orders": "orders",
    "payment": "payments",
    "payments": "payments",
    "notification": "notifications",
    "notifications": "notifications",
    "analytics": "analytics",
    "vendor": "vendors",
    "vendors": "vendors",
}
# Payload fields that name the aggregate an event belongs to, most specific first.
_KEY_FIELDS: Final = ("aggregate_id", "order_id", "cart_id", "product_id", "customer_id", "id")


class EnvelopeError(ValueError):
    """A record that is not a valid event envelope (poison: it can never be handled)."""


def stream_for(event_type: str) -> str:
    """The stream (topic suffix) an event type travels on: ``order.paid`` -> ``orders``."""
    context = event_type.split(".", 1)[0]
    try:
        return _CONTEXT_STREAM[context]
    except KeyError:
        raise ValueError(
            f"event type {event_type!r} names no known context "
            f"({', '.join(sorted(_CONTEXT_STREAM))})"
        ) from None


def stream_or_type(event_type: str) -> str:
    """The stream of an event type, or the type itself when it names none
    (how the in-process bus names a destination in traces)."""
    try:
        return stream_for(event_type)
    except ValueError:
        return event_type


def route(event: Event) -> tuple[str, str]:
    """The stream an event is published on, and, when that is the dead-letter
    stream, why (else ""). A type naming no stream goes by its source's stream,
    else to the dead letters: an outbox row that can never be routed must not
    hold up those behind it."""
    try:
        return stream_for(event.type), ""
    except ValueError as exc:
        source = event.source.split(".", 1)[0]
        if source in STREAMS and source != DEAD_LETTER:
            return source, ""
        return DEAD_LETTER, f"ValueError: {exc}"


def partition_key(event: Event) -> str:
    """The aggregate id: events with one key land on one partition, in order."""
    if event.key:
        return event.key
    for name in _KEY_FIELDS:
        value = event.payload.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return event.id


def to_envelope(event: Event, *, store: str = "") -> dict[str, Any]:
    key = partition_key(event)
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "type": event.type,
        "source": event.source or "storefleet",
        "time": event.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "dataversion": event.version,
        "subject": key,
        "partitionkey": key,
        "data": event.payload,
    }
    if store:
        envelope["store"] = store
    if event.traceparent:
        envelope["traceparent"] = event.traceparent
        if event.tracestate:
            envelope["tracestate"] = event.tracestate
    return envelope


def encode(event: Event, *, store: str = "") -> bytes:
    return json.dumps(to_envelope(event, store=store), separators=(",", ":")).encode()


def headers_for(event: Event) -> list[tuple[str, bytes]]:
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_source", (event.source or "storefleet").encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if event.traceparent:
        headers.append(("ce_traceparent", event.traceparent.encode()))
        if event.tracestate:
            headers.append(("ce_tracestate", event.tracestate.encode()))
    return headers


def _trace_context(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The envelope's trace context if it is one a span can continue, else none."""
    traceparent, tracestate = body.get("traceparent"), body.get("tracestate")
    if not isinstance(traceparent, str) or not tracing.valid_traceparent(traceparent):
        return None, None
    return traceparent, tracestate if isinstance(tracestate, str) and tracestate else None


def decode(value: bytes | None) -> Event:
    """Parse an envelope; raises :class:`EnvelopeError` for anything malformed."""
    if not value:
        raise EnvelopeError("empty record")
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EnvelopeError("the envelope is not a JSON object")
    if body.get("specversion") != SPEC_VERSION:
        raise EnvelopeError(f"unsupported specversion {body.get('specversion')!r}")
    for name in ("id", "type", "time"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise EnvelopeError(f"the envelope has no {name!r}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise EnvelopeError("the envelope's data is not a JSON object")
    version = body.get("dataversion", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EnvelopeError(f"invalid dataversion {version!r}")
    try:
        occurred_at = datetime.fromisoformat(body["time"])
    except ValueError:
        raise EnvelopeError(f"invalid time {body['time']!r}") from None
    key = body.get("partitionkey", "")
    traceparent, tracestate = _trace_context(body)
    return Event(
        type=body["type"],
        payload=data,
        source=str(body.get("source", "")),
        id=body["id"],
        occurred_at=occurred_at,
        version=version,
        key=key if isinstance(key, str) else "",
        traceparent=traceparent,
        tracestate=tracestate,
    )


def utcnow_iso() -> str:
    return utcnow().isoformat()
