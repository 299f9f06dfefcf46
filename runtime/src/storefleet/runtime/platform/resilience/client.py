"""Calls between services: a timeout per attempt, retries with backoff, a breaker.

A slow or dead dependency must cost a caller a bounded amount of time, and once
it is clearly down, almost none (breaker.py); retries are spread by backoff.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from storefleet.runtime.platform.resilience.backoff import RetryableError, retry
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker, CircuitOpenError
from storefleet.runtime.platform.telemetry import tracing
from storefleet.runtime.platform.telemetry.observability import current_request_id
from storefleet.runtime.platform.web.errors import UpstreamUnavailable

UPSTREAM_CALLS = Counter(
    "storefleet_upstream_calls_total", "Calls to other services", ["upstream", "outcome"]
)

KEEPALIVE_SECONDS = 2.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({502, 503, 504})


class ServiceClient:
    """HTTP client for one upstream service, with the resilience policy built in.

    Non-idempotent requests are retried only when they carry an Idempotency-Key,
    because a retried POST may otherwise do its work twice.
    Answers 4xx are returned, not raised: they are the caller's to interpret.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.name = name
        self.retries = retries
        self.breaker = breaker or CircuitBreaker(name)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            # A service calls on behalf of many users: a cookie one answer sets must
            # never ride along on the next user's request.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                # Below uvicorn's 5 s keep-alive: a connection the server is about to
                # close is not reused (that race surfaced as ReadError on POSTs, which
                # are not retried without an Idempotency-Key).
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        method = method.upper()
        sent_headers = dict(headers or {})
        request_id = current_request_id()
        if request_id:
            sent_headers.setdefault("X-Request-ID", request_id)
        with tracing.tracer().start_as_current_span(
            f"{method} {self.name}", kind=SpanKind.CLIENT
        ) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("server.address", self.name)
            tracing.inject(sent_headers)
            response = await self._send(method, path, params, json, sent_headers)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        sent_headers: dict[str, str],
    ) -> httpx.Response:
        retryable = method in _IDEMPOTENT or "Idempotency-Key" in sent_headers

        async def attempt() -> httpx.Response:
            if not self.breaker.allow():
                UPSTREAM_CALLS.labels(self.name, "short_circuited").inc()
                raise CircuitOpenError(self.name)
            try:
                response = await self._client.request(
                    method, path, params=params, json=json, headers=sent_headers
                )
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                UPSTREAM_CALLS.labels(self.name, "error").inc()
                raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500:
                self.breaker.record_failure()
                UPSTREAM_CALLS.labels(self.name, "error").inc()
                if response.status_code in _RETRY_STATUSES:
                    raise RetryableError(f"HTTP {response.status_code}")
                return response
            self.breaker.record_success()
            UPSTREAM_CALLS.labels(self.name, "ok").inc()
            return response

        try:
            return await retry(
                attempt,
                retries=self.retries if retryable else 0,
                retry_on=(RetryableError,),
            )
        except CircuitOpenError as exc:
            detail = f"{self.name} is unavailable (circuit open)"
            raise UpstreamUnavailable(self.name, detail) from exc
        except RetryableError as exc:
            raise UpstreamUnavailable(self.name, f"{self.name} did not answer: {exc}") from exc

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def close(self) -> None:
        await self._client.aclose()
