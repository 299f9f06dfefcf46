from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
    # A static bearer token that acts as a store admin (scripts, other services).
    admin_token: str = ""
    # Events are counted on the calendar day they happened in this zone: a shop
    # in Berlin closes its day at midnight Berlin time, not UTC.
    timezone: str = "UTC"
    # The longest period one report may cover; keeps a report one bounded query.
    max_report_days: int = Field(default=366, ge=1, le=3660)
    default_report_days: int = Field(default=30, ge=1, le=3660)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
            ) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
