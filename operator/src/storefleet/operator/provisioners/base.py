"""The small interface every provisioner shares.

`ensure` makes the tenant's share of a system exist as desired (and is safe to
call on every reconcile), `describe` reports without changing anything, and
`delete` removes what `ensure` made unless the Store's deletionPolicy is Retain.
Each returns a :class:`Result`: the condition to put on the Store and, from
`ensure`, what the runtime needs to reach its share (connection details).
Failures of the remote system come back as a False condition with the reason,
never as an exception that would crash the reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from storefleet.operator.status import Condition, ConditionStatus
from storefleet.operator.vocabulary import ConditionType, Reason

DeletionPolicy = Literal["Retain", "Delete"]


@dataclass(frozen=True)
class Tenant:
    """Who a provisioner works for: a Store, by name, with its integration block."""

    store: str
    namespace: str
    spec: Mapping[str, object] = field(default_factory=dict)

    @property
    def ident(self) -> str:
        """The Store's name as an identifier for roles, users and prefixes."""
        return "store_" + self.store.replace("-", "_")


@dataclass(frozen=True)
class Result:
    condition: Condition
    # What the runtime needs to reach the tenant's share, e.g. {"DATABASE_URL": ...}.
    # Values may be secret: the caller stores them in a Secret or in Vault.
    outputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.condition.status == "True"


class Provisioner(Protocol):
    condition_type: ConditionType

    async def ensure(self, tenant: Tenant, password: str) -> Result:
        """Create or converge the tenant's share; `password` is its credential."""
        ...

    async def describe(self, tenant: Tenant) -> Result:
        """Report whether the tenant's share exists, changing nothing."""
        ...

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        """Remove the tenant's share, or keep it when policy is Retain."""
        ...


# Reasons under which the tenant's share is there to use; any other reason
# (Missing, Deleted, <System>Unavailable, ...) is a False condition.
AVAILABLE_REASONS = frozenset({Reason.PROVISIONED, Reason.RETAINED})


def outcome(
    condition_type: ConditionType,
    reason: Reason,
    message: str,
    outputs: Mapping[str, str] | None = None,
) -> Result:
    """A Result whose condition status follows from its reason."""
    status: ConditionStatus = "True" if reason in AVAILABLE_REASONS else "False"
    return Result(Condition(condition_type, status, reason, message), outputs or {})
