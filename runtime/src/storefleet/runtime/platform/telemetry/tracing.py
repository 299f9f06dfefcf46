"""Distributed traces with OpenTelemetry: one trace per shopper request, across services.

FastAPI's own telemetry continues the W3C ``traceparent`` a request carries (or
starts a trace) in a SERVER span of every service, and
:class:`~storefleet.runtime.platform.resilience.client.ServiceClient` sends the
current context on in a CLIENT span; so a checkout posted to the storefront is
one trace through orders, cart, catalog and payments. Spans leave the process
through OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; without it they are created for
propagation and log correlation only.

Events continue the trace of the change that caused them.
:func:`~storefleet.runtime.platform.events.outbox.enqueue` stores the context
active in the writing transaction with the outbox row; the relay publishes it
in a PRODUCER span under that context and sends that span's context with the
event (the CloudEvents distributed-tracing extension:
``traceparent``/``tracestate``); each consumer handles the event in a CONSUMER
span whose parent is the context the event carries. A missing or malformed
context starts a new trace there: tracing never refuses an event.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from storefleet.runtime.platform.events.model import Event

INSTRUMENTATION: Final = "storefleet.runtime"

# Messaging and CloudEvents semantic-convention attribute names. The Python
# semconv package keeps them in its private ``_incubating`` module (the
# conventions are still "development"), so they are spelled out here.
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION: Final = "messaging.destination.name"
MESSAGING_PARTITION: Final = "messaging.destination.partition.id"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_CONSUMER_GROUP: Final = "messaging.consumer.group.name"
MESSAGING_KAFKA_KEY: Final = "messaging.kafka.message.key"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
CLOUDEVENTS_ID: Final = "cloudevents.event_id"
CLOUDEVENTS_TYPE: Final = "cloudevents.event_type"
CLOUDEVENTS_SOURCE: Final = "cloudevents.event_source"
CLOUDEVENTS_SUBJECT: Final = "cloudevents.event_subject"

# The in-process bus and Redis Streams have no registered messaging.system
# value; semconv allows a custom one.
INPROCESS: Final = "storefleet_inprocess"
KAFKA: Final = "kafka"
REDIS_STREAMS: Final = "redis_streams"
# The stream entry's id (``1718000000000-0``), Redis's counterpart of an offset.
MESSAGING_REDIS_ENTRY_ID: Final = "storefleet.redis.entry_id"

# What is stored with an event and sent on the wire is always W3C trace
# context (the CloudEvents extension names exactly these two attributes),
# whatever propagators OTEL_PROPAGATORS configures for HTTP.
_W3C: Final = TraceContextTextMapPropagator()
# W3C asks vendors to propagate at least 512 characters of tracestate; the
# outbox keeps that many, and a longer one is dropped (allowed by the spec)
# rather than fail the business transaction that writes the row.
TRACESTATE_MAX: Final = 512
TRACEPARENT_MAX: Final = 100


def tracer() -> trace.Tracer:
    # Looked up per use: the provider may be set after this module is imported.
    return trace.get_tracer(INSTRUMENTATION)


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Installs the process's tracer provider; True when spans are exported."""
    environ = os.environ if environ is None else environ
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "storefleet",
            "storefleet.store": environ.get("STOREFLEET_STORE_ID", ""),
        }
    )
    provider = TracerProvider(resource=resource)
    exporting = bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return exporting


def inject(headers: MutableMapping[str, str]) -> None:
    """Adds the current context (traceparent, tracestate) to outgoing headers."""
    propagate.inject(headers)


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or "" outside any trace (for logs)."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


# -- trace context carried by events -------------------------------------------


def trace_context(context: Context | None = None) -> tuple[str | None, str | None]:
    """``(traceparent, tracestate)`` of a context (default: the current one);
    ``(None, None)`` outside any span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=context)
    traceparent = carrier.get("traceparent")
    if not traceparent or len(traceparent) > TRACEPARENT_MAX:
        return None, None
    tracestate = carrier.get("tracestate") or None
    if tracestate is not None and len(tracestate) > TRACESTATE_MAX:
        tracestate = None
    return traceparent, tracestate


def parent_context(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The remote parent a carried context names; an empty context (a new
    trace) when there is none or it is malformed. Never the current context:
    a consumer's ambient context belongs to whatever started its task."""
    if not traceparent:
        return Context()
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _W3C.extract(carrier, context=Context())


@contextmanager
def detached() -> Iterator[None]:
    """No current span inside: a task created here starts from no trace
    rather than inherit whichever request happened to start it."""
    token = otel_context.attach(Context())
    try:
        yield
    finally:
        otel_context.detach(token)


def valid_traceparent(traceparent: str | None) -> bool:
    context = parent_context(traceparent)
    return trace.get_current_span(context).get_span_context().is_valid


def _event_attributes(event: Event, system: str, destination: str) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        MESSAGING_SYSTEM: system,
        MESSAGING_DESTINATION: destination,
        MESSAGING_MESSAGE_ID: event.id,
        CLOUDEVENTS_ID: event.id,
        CLOUDEVENTS_TYPE: event.type,
    }
    if event.source:
        attributes[CLOUDEVENTS_SOURCE] = event.source
    return attributes


def start_publish_span(
    event: Event,
    *,
    system: str,
    destination: str,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> tuple[trace.Span, Event]:
    """A PRODUCER span for sending one event, and the event carrying that
    span's context (what consumers continue). The span's parent is the context
    the event was enqueued under; with none, the current context.

    The caller ends the span (when the broker acknowledged the send)."""
    parent = parent_context(event.traceparent, event.tracestate) if event.traceparent else None
    span = tracer().start_span(
        f"publish {destination}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            **_event_attributes(event, system, destination),
            MESSAGING_OPERATION_NAME: "publish",
            MESSAGING_OPERATION_TYPE: "send",
            **(attributes or {}),
        },
    )
    traceparent, tracestate = trace_context(trace.set_span_in_context(span, Context()))
    if traceparent is None:
        # No recording provider (tracing off): pass on what the event had.
        return span, event
    return span, dataclasses.replace(event, traceparent=traceparent, tracestate=tracestate)


def end_with(span: trace.Span, error: BaseException | None) -> None:
    """Ends a span started by :func:`start_publish_span`, failed if ``error``."""
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


@contextmanager
def publish_span(
    event: Event,
    *,
    system: str,
    destination: str,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Event]:
    """:func:`start_publish_span` as a current span around one send; yields
    the event to send."""
    span, traced = start_publish_span(
        event, system=system, destination=destination, attributes=attributes
    )
    with trace.use_span(span, end_on_exit=True):
        yield traced


@contextmanager
def consume_span(
    event: Event,
    *,
    system: str,
    destination: str,
    consumer: str,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span around handling one event, child of the context the
    event carries (a new trace when it carries none, or a malformed one)."""
    with tracer().start_as_current_span(
        f"process {destination}",
        context=parent_context(event.traceparent, event.tracestate),
        kind=SpanKind.CONSUMER,
        attributes={
            **_event_attributes(event, system, destination),
            MESSAGING_OPERATION_NAME: "process",
            MESSAGING_OPERATION_TYPE: "process",
            MESSAGING_CONSUMER_GROUP: consumer,
            **(attributes or {}),
        },
    ) as span:
        yield span


def handler_name(handler: object) -> str:
    """``NotificationService.handle_event``: how a handler's span is named."""
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return str(name)


@contextmanager
def handler_span(handler: object, event: Event) -> Iterator[trace.Span]:
    """An INTERNAL span per handler (and attempt) inside a consumer's span: a
    consumer may run several handlers for one event, and retry them."""
    module = getattr(handler, "__module__", None) or type(handler).__module__
    name = handler_name(handler)
    with tracer().start_as_current_span(
        name,
        attributes={
            "code.function.name": f"{module}.{name}",
            CLOUDEVENTS_TYPE: event.type,
            MESSAGING_MESSAGE_ID: event.id,
        },
    ) as span:
        yield span
