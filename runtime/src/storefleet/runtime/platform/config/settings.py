"""Environment-driven settings.

Each service has its own settings class with its own environment prefix
(``STOREFLEET_CATALOG_...``, ``STOREFLEET_CART_...``), so one process can host
several services with different databases, and the operator can configure each
Deployment independently. What the whole store shares — its name, branding,
tax and shipping rules — lives in :class:`StoreSettings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".storefleet")
# Where the operator's Deployments mount a writable volume (the root is read-only).
POD_DATA_DIR = Path("/var/lib/storefleet")


def in_kubernetes() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ


# Names of settings that hold a credential: once one is set, the runtime is
# someone's real deployment and nothing may run open by default.
_CREDENTIAL_SUFFIXES: Final = (
    "_SECRET",
    "_TOKEN",
    "_TOKENS",
    "_KEY",
    "_PASSWORD",
    "_OIDC_ISSUER",
)
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class DevelopmentModeRefused(RuntimeError):
    """``STOREFLEET_DEVELOPMENT_MODE`` is on inside a pod: the process must not start."""


class RuntimeModeSettings(BaseSettings):
    """The one switch that lets a runtime run open, for development on a laptop."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_", extra="ignore")

    # true: staff-only routes answer requests without a token (as the demo's admin
    # API always did); refused in a pod. auto: on only outside a pod while no
    # credential (a ..._SECRET, ..._TOKEN, ..._KEY, ..._PASSWORD or OIDC issuer)
    # is set. false: never.
    development_mode: Literal["auto", "true", "false"] = "auto"


def configured_credentials(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``STOREFLEET_*`` settings in the environment that hold a credential."""
    values = os.environ if environ is None else environ
    return sorted(
        name
        for name, value in values.items()
        if name.startswith("STOREFLEET_") and name.endswith(_CREDENTIAL_SUFFIXES) and value.strip()
    )


def development_mode(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this runtime may run open (staff routes without credentials).

    The one place that decides it, for every service of the process: on when
    ``STOREFLEET_DEVELOPMENT_MODE`` says so, or, when it is ``auto`` (unset), on a laptop
    with no credential configured at all (``storefleet runtime serve all`` out of
    the box). Never in a pod: there the setting being on is an error.
    """
    values = os.environ if environ is None else environ
    explicit = values.get("STOREFLEET_DEVELOPMENT_MODE", "").strip().lower()
    if explicit == "auto":
        explicit = ""
    if explicit and explicit not in _TRUE | _FALSE:
        raise ValueError("STOREFLEET_DEVELOPMENT_MODE must be auto, true or false")
    if "KUBERNETES_SERVICE_HOST" in values:
        if explicit in _TRUE:
            raise DevelopmentModeRefused(
                "STOREFLEET_DEVELOPMENT_MODE is on inside a pod: a cluster never runs open"
            )
        return False
    if explicit:
        return explicit in _TRUE
    return not configured_credentials(values)


def _shared(name: str, default: str) -> str:
    """A process-wide fallback (``STOREFLEET_<NAME>``) under the per-service one:
    one Deployment runs one service, so the operator sets the short names."""
    return os.environ.get(f"STOREFLEET_{name}", default)


def _data_dir() -> Path:
    fallback = POD_DATA_DIR if in_kubernetes() else DEFAULT_DATA_DIR
    return Path(_shared("DATA_DIR", str(fallback)))


def upstream_url(service: str, local_port: int) -> str:
    """Where another service answers: its Service name in a cluster, else localhost."""
    return f"http://{service}:8000" if in_kubernetes() else f"http://127.0.0.1:{local_port}"


# Which event bus carries a service's events; "auto" decides from the settings
# (see events.backends.create_event_bus).
BusKind = Literal["auto", "inprocess", "kafka", "redis"]
# URLs that name a Redis server (as the cache reads them).
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


class ServiceSettings(BaseSettings):
    """What every service needs: where its state lives and how it talks."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_", extra="ignore")

    service_name: str = "storefleet"
    # Empty means the embedded default: an SQLite file named after the service.
    database_url: str = Field(default_factory=lambda: _shared("DATABASE_URL", ""))
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # "memory://" is the embedded default; "redis://..." in cluster mode.
    cache_url: str = Field(default_factory=lambda: _shared("CACHE_URL", "memory://"))
    cache_prefix: str = Field(default_factory=lambda: _shared("CACHE_PREFIX", ""))
    # This service's bus; "auto" follows STOREFLEET_EVENTS_BACKEND.
    event_bus: BusKind = "auto"
    data_dir: Path = Field(default_factory=_data_dir)
    log_level: str = Field(default_factory=lambda: _shared("LOG_LEVEL", "INFO"))
    log_json: bool = True
    access_log: bool = True
    # Calls to other services: a budget per attempt, a few retries, then the breaker.
    http_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    http_retries: int = Field(default=2, ge=0, le=10)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=10.0, gt=0)
    run_migrations: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"


class StoreSettings(BaseSettings):
    """The tenant's storefront identity and commercial rules."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STORE_", extra="ignore")

    name: str = "Storefleet Demo Shop"
    tagline: str = "Everything you need, delivered."
    logo_url: str = ""
    primary_color: str = Field(default="#1f4e79", pattern=r"^#[0-9a-fA-F]{6}$")
    accent_color: str = Field(default="#e07a1f", pattern=r"^#[0-9a-fA-F]{6}$")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    locale: str = "en"
    # Basis points (1/100 of a percent) keep tax rates exact without floats.
    tax_rate_bps: int = Field(default=2000, ge=0, le=10000)
    shipping_flat_minor: int = Field(default=495, ge=0)
    free_shipping_threshold_minor: int = Field(default=5000, ge=0)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


def _default_topic_prefix() -> str:
    return f"store.{os.environ.get('STOREFLEET_STORE_ID') or 'demo'}."


class EventsSettings(BaseSettings):
    """Where events travel in cluster mode: the store's Kafka topics or Redis streams.

    Topics are ``<topic_prefix><stream>`` (``store.<store>.orders``), the names
    the operator's Kafka provisioner creates. Redis stream keys are
    ``<redis_key_prefix><topic_prefix><stream>`` (``acme:store.acme.orders``):
    under the store's cache prefix, the only keys its Redis user may touch."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_EVENTS_", extra="ignore")

    # auto: Kafka when bootstrap_servers is set, else Redis Streams when a Redis
    # URL is known (redis_url or the cache's), else in-process. A service's own
    # ..._EVENT_BUS, when not auto, wins over this.
    backend: BusKind = "auto"
    # Empty: no Kafka.
    bootstrap_servers: str = ""
    # The store's SCRAM user on the broker (the operator's Kafka provisioner
    # makes it, with ACLs on the store's topics and groups only). Empty: no SASL.
    sasl_username: str = ""
    sasl_password: str = ""
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    # Empty: SASL_PLAINTEXT when sasl_username is set, else PLAINTEXT.
    security_protocol: Literal["", "PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = ""
    topic_prefix: str = Field(default_factory=_default_topic_prefix)
    store: str = Field(default_factory=lambda: os.environ.get("STOREFLEET_STORE_ID", ""))
    client_id: str = "storefleet"
    # Consumers: attempts per event (with exponential backoff) before dead-letter.
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_backoff_seconds: float = Field(default=0.5, gt=0, le=60)
    retry_backoff_max_seconds: float = Field(default=10.0, gt=0, le=600)
    # Per Kafka or Redis request (a send waits at most this long).
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Create missing topics at start (the operator does it in a cluster).
    create_topics: bool = Field(default_factory=lambda: not in_kubernetes())
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    # Redis Streams: empty takes STOREFLEET_CACHE_URL when that is a redis://,
    # rediss:// or unix:// URL (not memory://).
    redis_url: str = ""
    # Before every stream key; defaults to the cache's key prefix.
    redis_key_prefix: str = Field(default_factory=lambda: _shared("CACHE_PREFIX", ""))
    # Each stream keeps about this many entries (XADD MAXLEN ~): older ones are
    # trimmed whether or not every consumer has read them.
    redis_max_len: int = Field(default=100_000, ge=1)
    # An entry a consumer read and left unacknowledged this long (its pod died)
    # is claimed by another replica of that consumer.
    redis_claim_idle_seconds: float = Field(default=60.0, gt=0, le=3600)
    # How long one read waits for new entries before it asks again.
    redis_block_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must be a {', '.join(REDIS_SCHEMES)} URL, or empty")
        return value

    def resolved_redis_url(self) -> str:
        """The Redis the streams live in: ``redis_url``, else the cache when it
        is Redis; empty when there is none."""
        url = self.redis_url or _shared("CACHE_URL", "")
        return url if url.startswith(REDIS_SCHEMES) else ""
