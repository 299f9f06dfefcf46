"""The laptop's stand-ins for a Store's servers, and the rule that no pod runs on them.

Out of the box ``storefleet runtime serve`` keeps each service's tables in an
SQLite file, its cache in the process's memory and its events on an in-process
bus: one process, nothing to install. In a cluster each of those would be one
replica's own: a second replica has other carts and other orders, a restart
loses them, and events never reach the services in other pods. So a service in
a pod (``KUBERNETES_SERVICE_HOST`` set) refuses to start on any of them, with
one line that says which and what to set; the operator sets them for every
Store (an in-namespace PostgreSQL and Redis when it has no shared servers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import (
    EventsSettings,
    ServiceSettings,
    in_kubernetes,
)
from storefleet.runtime.platform.events.backends import choose_backend

# What each service keeps: tables, cached values (every service checks revoked
# sessions in the cache), events. The storefront keeps no tables and sends no events.
PARTS: Final[Mapping[str, tuple[str, ...]]] = {"storefront": ("cache",)}
ALL_PARTS: Final = ("database", "cache", "events")


class StandInRefused(RuntimeError):
    """A service in a pod would run on a laptop's stand-in: it must not start."""


def _settings_of(service: str) -> ServiceSettings:
    """The settings every service has, under this one's prefix (``STOREFLEET_CART_...``,
    falling back to the process-wide ``STOREFLEET_...`` as the service's own do)."""

    class Of(ServiceSettings):
        model_config = SettingsConfigDict(
            env_prefix=f"STOREFLEET_{service.upper()}_", extra="ignore"
        )

    return Of()


def stand_ins(service: str) -> list[str]:
    """The stand-ins this service would run on, each with the setting that replaces it."""
    settings = _settings_of(service)
    parts = PARTS.get(service, ALL_PARTS)
    found = []
    if "database" in parts and not settings.database_url:
        found.append("its tables in an SQLite file (set STOREFLEET_DATABASE_URL)")
    if "cache" in parts and settings.cache_url.startswith("memory://"):
        found.append("its cache in process memory (set STOREFLEET_CACHE_URL to a redis:// URL)")
    bus = choose_backend(settings.event_bus, EventsSettings())
    if "events" in parts and bus.name == "inprocess":
        found.append(
            "its events on an in-process bus (set STOREFLEET_EVENTS_BOOTSTRAP_SERVERS, or a "
            "redis:// STOREFLEET_CACHE_URL for Redis Streams)"
        )
    return found


def refuse_in_pod(service: str) -> None:
    """Raises :class:`StandInRefused` when a service in a pod would use a stand-in."""
    if not in_kubernetes():
        return
    if service == "all":
        raise StandInRefused(
            "storefleet runtime serve all will not start in a pod: it runs every service on "
            "one in-process bus, for a laptop; a cluster runs each service on its own"
        )
    found = stand_ins(service)
    if found:
        raise StandInRefused(
            f"storefleet-{service} will not start in a pod with "
            + "; ".join(found)
            + ": each replica would keep its own and lose it on restart"
        )
