from __future__ import annotations

import pydantic
import pytest

from storefleet.runtime.cart.schemas import PromoIn, PromoPatch


@pytest.mark.parametrize("model", [PromoIn, PromoPatch])
def test_a_number_is_not_taken_for_a_date(model: type[pydantic.BaseModel]) -> None:
    """Found by schemathesis: 2438 was read as 1970-01-01T00:40:38Z and accepted."""
    body = {"code": "SPRING", "kind": "percent", "value": 10, "expires_at": 2438}
    with pytest.raises(pydantic.ValidationError, match="RFC 3339 string"):
        model.model_validate(body)


def test_an_rfc_3339_date_is_accepted() -> None:
    patch = PromoPatch.model_validate({"expires_at": "2027-01-01T00:00:00Z"})
    assert patch.expires_at is not None
    assert patch.expires_at.year == 2027
