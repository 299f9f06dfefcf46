"""How a service's answer reads on a page: its problem detail in plain words."""

from __future__ import annotations

from typing import Any

import httpx


def problem_detail(response: httpx.Response, fallback: str = "That didn't work.") -> str:
    try:
        return str(response.json().get("detail", fallback))
    except ValueError:
        return fallback


def readable(answer: httpx.Response) -> str:
    """What went wrong, in words for the page: the first invalid field, else the detail."""
    if answer.status_code >= 500:
        return "The shop is having trouble right now. Please try again shortly."
    body: Any
    try:
        body = answer.json()
    except ValueError:
        return "That didn't work."
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        field = errors[0].get("loc", ["", ""])[-1]
        names = {"password": "Password", "email": "E-mail address", "postal_code": "Postcode"}
        return f"{names.get(field, str(field).replace('_', ' ').capitalize())}: {errors[0]['msg']}"
    return str(body.get("detail", "That didn't work.")) if isinstance(body, dict) else "Error"
