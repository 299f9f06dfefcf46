"""The service skeleton every context builds on.

``create_service_app`` gives a FastAPI app with problem+json errors, request
ids, access logs, metrics, ``/healthz`` (the process is alive) and ``/readyz``
(its dependencies answer), security headers on every response and a size
limit on every request body, so each context only adds its own routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.middleware import Middleware

from storefleet.runtime.platform.telemetry.observability import (
    ObservabilityMiddleware,
    metrics_endpoint,
)
from storefleet.runtime.platform.web.errors import PROBLEM_JSON, install_error_handlers
from storefleet.runtime.platform.web.http_guards import (
    API_POLICY,
    BodyLimitMiddleware,
    HttpSettings,
    SecurityHeadersMiddleware,
)

Check = Callable[[], Awaitable[None]]


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add fields (errors, sku, available)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str = ""


class Health(BaseModel):
    status: str
    service: str
    checks: dict[str, str] = {}


def readiness_checks(app: FastAPI) -> dict[str, Check]:
    checks: dict[str, Check] = app.state.readiness_checks
    return checks


def create_service_app(
    service: str,
    *,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    lifespan: Any = None,
    log_requests: bool = True,
    content_security_policy: str = API_POLICY,
    max_body_bytes: int | None = None,
    middleware: Sequence[Middleware] = (),
) -> FastAPI:
    """``content_security_policy`` is for apps that render pages (the storefront);
    ``'nonce-{nonce}'`` in it becomes a fresh nonce per request. ``middleware``
    runs inside the kernel's (after the size limit, before the routes)."""
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.state.service = service
    app.state.readiness_checks = {}
    install_error_handlers(app)
    # Inside out: the size limit, then request ids and logs (a 413 is logged),
    # then the headers, so even an unhandled error's 500 carries them.
    app.user_middleware.extend(middleware)
    limit = max_body_bytes if max_body_bytes is not None else HttpSettings().max_body_bytes
    app.add_middleware(BodyLimitMiddleware, limit=limit)
    app.add_middleware(ObservabilityMiddleware, service=service, log_requests=log_requests)
    app.add_middleware(SecurityHeadersMiddleware, policy=content_security_policy)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    @app.get("/healthz/live", response_model=Health, include_in_schema=False)
    async def healthz() -> Health:
        return Health(status="ok", service=service)

    @app.get("/healthz/ready", include_in_schema=False)
    @app.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        summary="Readiness: every dependency answers",
        responses={503: {"model": Health, "description": "A dependency is down"}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in readiness_checks(app).items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failed: {type(exc).__name__}"
        ready = all(value == "ok" for value in results.values())
        body = Health(status="ok" if ready else "unavailable", service=service, checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_openapi(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Document errors as they are sent: problem+json, not FastAPI's default 422."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid request", "content": problem}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema
