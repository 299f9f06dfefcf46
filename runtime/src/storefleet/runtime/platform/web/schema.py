"""Request-body conventions every service's API shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class Input(BaseModel):
    """A request body: exact JSON types and no unknown fields, so a client's typo
    is an error it sees rather than a setting silently ignored."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        # JSON Schema's "integer" includes 3.0 but not true or "3": strict mode
        # rejects the latter two, and this admits the former.
        if isinstance(data, dict):
            return {
                key: int(value) if isinstance(value, float) and value.is_integer() else value
                for key, value in data.items()
            }
        return data
