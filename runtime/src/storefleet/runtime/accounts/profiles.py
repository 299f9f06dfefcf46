"""A person's own profile (name, language, channels, marketing consent) and
address book, as the ``/me`` routes and the data export show them."""

from __future__ import annotations

from sqlalchemy import func, select, update

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.changes import emit
from storefleet.runtime.accounts.models import Address, User
from storefleet.runtime.accounts.second_factor import mfa_required
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import account_of, aware, local_id, new_id
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import NotFound, ProblemError

MAX_ADDRESSES = 20


def address_of(row: Address) -> s.Address:
    return s.Address(
        id=row.id,
        label=row.label,
        name=row.name,
        line1=row.line1,
        line2=row.line2,
        city=row.city,
        postal_code=row.postal_code,
        country=row.country,
        phone=row.phone,
        is_default=row.is_default,
    )


class Profiles:
    def __init__(self, db: Database, settings: AccountsSettings, relay: OutboxRelay) -> None:
        self.db = db
        self.settings = settings
        self.relay = relay

    def profile_of(self, user: User) -> s.Profile:
        return s.Profile(
            id=user.id,
            email=user.email or "",
            email_verified=user.email_verified,
            name=user.name,
            roles=list(user.roles),
            language=user.language,
            channels={k: bool(v) for k, v in (user.channels or {}).items()},
            marketing_opt_in=user.marketing_opt_in,
            mfa_enabled=user.mfa_enabled,
            mfa_required=mfa_required(self.settings, user),
            created_at=aware(user.created_at),
        )

    async def profile(self, principal: Principal) -> s.Profile:
        async with self.db.write() as session:
            return self.profile_of(await account_of(session, principal))

    async def update_profile(self, principal: Principal, body: s.ProfilePatch) -> s.Profile:
        async with self.db.write() as session:
            user = await account_of(session, principal)
            if body.name is not None:
                user.name = body.name
            if body.language is not None:
                user.language = body.language
            if body.channels is not None:
                user.channels = {
                    **(user.channels or {}),
                    **{str(k): v for k, v in body.channels.items()},
                }
            if body.marketing_opt_in is not None:
                user.marketing_opt_in = body.marketing_opt_in
            await emit(
                session,
                "account.preferences_changed",
                {
                    "user_id": user.id,
                    "language": user.language,
                    "channels": user.channels,
                    "marketing_opt_in": user.marketing_opt_in,
                },
            )
            profile = self.profile_of(user)
        self.relay.wake()
        return profile

    async def addresses(self, principal: Principal) -> list[s.Address]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Address)
                    .where(Address.user_id == local_id(principal))
                    .order_by(Address.is_default.desc(), Address.created_at)
                )
            ).scalars()
            return [address_of(row) for row in rows]

    async def add_address(self, principal: Principal, body: s.AddressIn) -> s.Address:
        async with self.db.write() as session:
            user = await account_of(session, principal)
            count = await session.scalar(
                select(func.count()).select_from(Address).where(Address.user_id == user.id)
            )
            if (count or 0) >= MAX_ADDRESSES:
                raise ProblemError(409, f"an account keeps at most {MAX_ADDRESSES} addresses")
            if body.is_default or not count:
                await session.execute(
                    update(Address).where(Address.user_id == user.id).values(is_default=False)
                )
            row = Address(id=new_id(), user_id=user.id, **body.model_dump(exclude={"is_default"}))
            row.is_default = body.is_default or not count
            session.add(row)
            await session.flush()
            return address_of(row)

    async def replace_address(
        self, principal: Principal, address_id: str, body: s.AddressIn
    ) -> s.Address:
        async with self.db.write() as session:
            row = await session.get(Address, address_id)
            if row is None or row.user_id != local_id(principal):
                raise NotFound("no such address")
            for key, value in body.model_dump(exclude={"is_default"}).items():
                setattr(row, key, value)
            if body.is_default:
                await session.execute(
                    update(Address)
                    .where(Address.user_id == row.user_id, Address.id != row.id)
                    .values(is_default=False)
                )
                row.is_default = True
            return address_of(row)

    async def delete_address(self, principal: Principal, address_id: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Address, address_id)
            if row is None or row.user_id != local_id(principal):
                raise NotFound("no such address")
            await session.delete(row)
