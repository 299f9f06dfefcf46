"""RFC 9457 problem details for every error a client can see.

Bad input gets a 4xx with a JSON body that says what to fix; an unexpected
failure gets a bare 500 problem carrying the request id, never a traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from storefleet.runtime.platform.telemetry.observability import current_request_id

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions


class NotFound(ProblemError):
    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(404, detail, **extensions)


class Conflict(ProblemError):
    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, detail, **extensions)


class UpstreamUnavailable(ProblemError):
    def __init__(self, service: str, detail: str) -> None:
        super().__init__(
            503,
            detail,
            title="Upstream service unavailable",
            upstream=service,
            headers={"Retry-After": "5"},
        )


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=exc.type,
        headers=exc.headers,
        **exc.extensions,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
    return problem_response(exc.status_code, detail, headers=headers or None)


def _allowed_methods(request: Request) -> set[str]:
    """FastAPI makes one route per method, so Starlette's 405 names only one of
    them; a client deserves every method the path supports."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        methods = getattr(route, "methods", None)
        if methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= set(methods)
    return allowed


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        422, summary or "Request is invalid", title="Invalid request", errors=errors
    )


async def _data(_: Request, exc: Exception) -> JSONResponse:
    # Input the schema allows but the database can't store, e.g. a NUL character,
    # which PostgreSQL refuses in text and SQLite accepts.
    return problem_response(422, "the request contains characters or values that can't be stored")


async def _dependency_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("a dependency is unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        "a service this request needs is unavailable; try again shortly",
        title="Service Unavailable",
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DataError, _data)
    # A database or Redis that is down or unreachable is a 503 the client may
    # retry, not a 500 that pages someone about a bug.
    for unavailable in (OperationalError, InterfaceError, RedisConnectionError, RedisTimeout):
        app.add_exception_handler(unavailable, _dependency_down)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (400, 401, 403, 404, 409, 422, 503)
}
