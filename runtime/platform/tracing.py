"""Distributed traces with OpenTelemetry: one trace per shopper request, across services.

FastAPI's own telemetry continues the W3C ``traceparent`` a request carries (or
starts a trace) in a SERVER span of every service, and
:class:`~.resilience.ServiceClient` sends the current context on in a CLIENT span;
so a checkout posted to the storefront is one trace through orders, cart, catalog
and payments. Spans leave the process through OTLP/HTTP when the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set; without it they are created for propagation and log correlation only.

Not yet carried: the hop through the transactional outbox. Events are published
by the relay after the commit, outside the request, so a consumer's work starts
its own trace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

INSTRUMENTATION: Final = "storefleet.runtime"


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
