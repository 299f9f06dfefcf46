"""Shoppers: a vendor's reviews (public) and their own rating of a vendor they
bought from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.api.deps import VendorId, Vendors, people

router = APIRouter(tags=["reviews"], responses=PROBLEM_RESPONSES)


@router.get(
    "/vendors/{vendor_id}/reviews", response_model=s.ReviewPage, dependencies=[Depends(public)]
)
async def reviews(
    vendors: Vendors, vendor_id: VendorId, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> s.ReviewPage:
    """A vendor's average rating and its latest reviews."""
    return await vendors.reviews.page(vendor_id, limit)


@router.put("/vendors/{vendor_id}/reviews/mine", response_model=s.ReviewOut)
async def rate(
    vendors: Vendors,
    vendor_id: VendorId,
    body: s.ReviewIn,
    principal: Annotated[Principal, Depends(people("reviews:write"))],
) -> s.ReviewOut:
    """Rate a vendor you bought from, 1-5 with a comment (again: replaces it)."""
    return await vendors.reviews.review(vendor_id, principal.subject, body)
