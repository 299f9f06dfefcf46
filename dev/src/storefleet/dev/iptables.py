"""Guard chains the stack adds to the host's iptables, and takes away again.

A guard is one chain of our own, jumped to from the top of a built-in hook
(INPUT, FORWARD), so removing it leaves the host's own rules as they were.

Guards live in the mangle table, which the kernel runs before the filter table:
a firewall that accepts traffic in filter (kube-router ACCEPTs whatever its
NetworkPolicies allow, at the top of INPUT and FORWARD, and keeps its jumps
there) can then never let through what a guard drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from storefleet.dev.processes import run_checked

# The commands of each address family: IPv4 only, or both.
FAMILIES: Final = {False: ("iptables",), True: ("iptables", "ip6tables")}
TABLE: Final = "mangle"
# Where guards were kept before: removed from there too.
FORMER_TABLES: Final = ("filter",)


def ensure_guard(
    hook: str, chain: str, rules: Sequence[Sequence[str]], *, ipv6: bool = False
) -> None:
    """Create chain with rules (each the arguments after ``-A chain``) unless it
    exists, and jump to it first thing in hook; ``ipv6``: in ip6tables too."""
    for command in FAMILIES[ipv6]:

        def table(*args: str, check: bool = True, command: str = command) -> int:
            return run_checked(command, "-w", "-t", TABLE, *args, check=check).returncode

        if table("-n", "-L", chain, check=False) != 0:
            table("-N", chain)
            for rule in rules:
                table("-A", chain, *rule)
        if table("-C", hook, "-j", chain, check=False) != 0:
            table("-I", hook, "-j", chain)


def remove_guard(hook: str, chain: str, *, ipv6: bool = False) -> None:
    """Take the jump out of hook and delete the chain; nothing if it is gone."""
    for command in FAMILIES[ipv6]:
        for name in (TABLE, *FORMER_TABLES):
            table = ("-t", name)
            if run_checked(command, "-w", *table, "-C", hook, "-j", chain, check=False).returncode:
                continue
            for args in (("-D", hook, "-j", chain), ("-F", chain), ("-X", chain)):
                run_checked(command, "-w", *table, *args, check=False)
