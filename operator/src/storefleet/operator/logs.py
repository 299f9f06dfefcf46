"""Logging setup: JSON lines by default, one object per line for log pipelines."""

from __future__ import annotations

import logging

import kopf

from storefleet.operator.settings import OperatorSettings


def configure(settings: OperatorSettings) -> None:
    kopf.configure(
        debug=settings.log_level == "DEBUG",
        quiet=settings.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        log_refkey="object",
    )
    if settings.log_level != "DEBUG":
        # Kopf logs every handler success per object at INFO; our own logs say what matters.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
