"""A Vendor's people in its store's realm: a group per vendor and its portal users.

Each user of ``spec.users`` gets an account (username = e-mail) in the group
``vendor-<name>`` (attribute ``vendor_id``, which the runtime reads from the
token) with the realm role of its ``role``, and, when first created, an
invitation e-mail with a link to set a password. Offboarding disables the
group's users instead of deleting them: their orders and history stay
attributable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner, realm_name

INVITE_ACTIONS: Final = ["UPDATE_PASSWORD", "VERIFY_EMAIL"]
INVITED_ATTRIBUTE: Final = "storefleet_invited"
# An invitation link stays valid this long (seconds).
INVITE_LIFESPAN: Final = 7 * 24 * 3600


def group_name(vendor: str) -> str:
    return f"vendor-{vendor}"


@dataclass(frozen=True)
class VendorUsers:
    present: int
    wanted: int
    # e-mails whose invitation could not be sent (no SMTP server in the realm, ...)
    not_invited: tuple[str, ...] = ()


class VendorRealm:
    def __init__(self, keycloak: KeycloakProvisioner) -> None:
        self.keycloak = keycloak

    async def ensure(
        self,
        tenant: Tenant,
        vendor: str,
        users: Sequence[Mapping[str, str]],
        *,
        enabled: bool = True,
    ) -> VendorUsers:
        """Group and users as the spec lists them; raises KeycloakError or OSError."""
        admin = self.keycloak.admin(realm_name(tenant))
        group_id = await self._group(admin, vendor)
        not_invited = []
        for user in users:
            user_id, created = await self._user(admin, user["email"], vendor, enabled)
            await admin.a_group_user_add(user_id, group_id)
            role = await admin.a_get_realm_role(user["role"])
            await admin.a_assign_realm_roles(user_id, [role])
            if created and enabled and not await self._invite(admin, user_id, vendor):
                not_invited.append(user["email"])
        members = await admin.a_get_group_members(group_id)
        listed = {u["email"].lower() for u in users}
        for member in members:
            # Removed from the spec: disabled, not deleted (see the module's docstring).
            if (member.get("email") or "").lower() not in listed and member.get("enabled"):
                await admin.a_update_user(member["id"], {"enabled": False})
        present = sum(
            1
            for member in await admin.a_get_group_members(group_id)
            if (member.get("email") or "").lower() in listed
        )
        return VendorUsers(present, len(users), tuple(not_invited))

    async def disable(self, tenant: Tenant, vendor: str) -> int:
        """Disables every user of the vendor's group; returns how many."""
        admin = self.keycloak.admin(realm_name(tenant))
        groups = await admin.a_get_groups({"search": group_name(vendor), "exact": "true"})
        found = [g for g in groups if g.get("name") == group_name(vendor)]
        if not found:
            return 0
        disabled = 0
        for member in await admin.a_get_group_members(found[0]["id"]):
            if member.get("enabled"):
                await admin.a_update_user(member["id"], {"enabled": False})
                disabled += 1
        return disabled

    async def _group(self, admin: KeycloakAdmin, vendor: str) -> str:
        name = group_name(vendor)
        representation = {"name": name, "attributes": {"vendor_id": [vendor]}}
        groups = await admin.a_get_groups({"search": name, "exact": "true"})
        for group in groups:
            if group.get("name") == name:
                group_id: str = group["id"]
                return group_id
        created = await admin.a_create_group(representation, skip_exists=True)
        if created is None:  # made concurrently
            group = await admin.a_get_group_by_path(f"/{name}")
            return str(group["id"])
        return str(created)

    async def _user(
        self, admin: KeycloakAdmin, email: str, vendor: str, enabled: bool
    ) -> tuple[str, bool]:
        found = await admin.a_get_users({"email": email, "exact": True})
        if found:
            user: dict[str, Any] = found[0]
            if bool(user.get("enabled")) != enabled:
                await admin.a_update_user(user["id"], {"enabled": enabled})
            return str(user["id"]), False
        user_id = await admin.a_create_user(
            {
                "username": email.lower(),
                "email": email,
                "enabled": enabled,
                "emailVerified": False,
                "requiredActions": INVITE_ACTIONS,
                "attributes": {"vendor_id": [vendor]},
            },
            exist_ok=True,
        )
        return str(user_id), True

    async def _invite(self, admin: KeycloakAdmin, user_id: str, vendor: str) -> bool:
        try:
            await admin.a_send_update_account(
                user_id, INVITE_ACTIONS, client_id="vendor-portal", lifespan=INVITE_LIFESPAN
            )
        except KeycloakError:
            # Most often the realm has no SMTP server yet; the account still exists
            # and the store's admin can send the link from Keycloak later.
            return False
        attributes = {"vendor_id": [vendor], INVITED_ATTRIBUTE: ["true"]}
        await admin.a_update_user(user_id, {"attributes": attributes})
        return True
