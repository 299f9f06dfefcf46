"""Store staff (``/admin``): promo codes and the abandoned-cart sweep."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.api.deps import Carts, CodePath, guard
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)
READ = [Depends(guard("promotions:read"))]
MANAGE = [Depends(guard("promotions:manage"))]


@router.post("/promos", response_model=s.PromoOut, status_code=201, dependencies=MANAGE)
async def create_promo(carts: Carts, body: s.PromoIn) -> s.PromoOut:
    return await carts.create_promo(body)


@router.get("/promos", response_model=list[s.PromoOut], dependencies=READ)
async def list_promos(carts: Carts) -> list[s.PromoOut]:
    return await carts.list_promos()


@router.get("/promos/{code}", response_model=s.PromoOut, dependencies=READ)
async def get_promo(carts: Carts, code: CodePath) -> s.PromoOut:
    return await carts.get_promo(code)


@router.patch("/promos/{code}", response_model=s.PromoOut, dependencies=MANAGE)
async def update_promo(carts: Carts, code: CodePath, body: s.PromoPatch) -> s.PromoOut:
    return await carts.update_promo(code, body)


@router.post(
    "/abandoned-carts/sweep",
    response_model=s.AbandonedSweep,
    dependencies=[Depends(guard("carts:manage"))],
)
async def sweep(carts: Carts) -> s.AbandonedSweep:
    """Run abandoned-cart detection now (it also runs periodically)."""
    return s.AbandonedSweep(notified=await carts.sweep_abandoned())
