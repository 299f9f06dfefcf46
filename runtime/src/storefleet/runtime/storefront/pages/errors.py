"""Errors as the shop's own pages: a problem from a service, an HTTP error, a
request that did not validate, and a form the browser guard refused."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.web.errors import ProblemError
from storefleet.runtime.storefront.pages.deps import site


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    if exc.status >= 500:
        return await site(request).error_page(
            request, 503, "The shop is having trouble right now. Please try again shortly."
        )
    return await site(request).error_page(request, exc.status, exc.detail)


async def on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = "We couldn't find that page." if exc.status_code == 404 else str(exc.detail)
    return await site(request).error_page(request, exc.status_code, message)


async def on_invalid(request: Request, exc: Exception) -> Response:
    return await site(request).error_page(request, 400, "That request didn't make sense to us.")


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
