"""Guard chains the stack adds to the host's iptables, and takes away again.

A guard is one chain of our own, jumped to from the top of a built-in hook
(INPUT, FORWARD), so removing it leaves the host's own rules as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from storefleet.dev.processes import run_checked

# The commands of each address family: IPv4 only, or both.
FAMILIES: Final = {False: ("iptables",), True: ("iptables", "ip6tables")}


def ensure_guard(
    hook: str, chain: str, rules: Sequence[Sequence[str]], *, ipv6: bool = False
) -> None:
    """Create chain with rules (each the arguments after ``-A chain``) unless it
    exists, and jump to it first thing in hook; ``ipv6``: in ip6tables too."""
    for command in FAMILIES[ipv6]:

        def table(*args: str, check: bool = True, command: str = command) -> int:
            return run_checked(command, "-w", *args, check=check).returncode

        if table("-n", "-L", chain, check=False) != 0:
            table("-N", chain)
            for rule in rules:
                table("-A", chain, *rule)
        if table("-C", hook, "-j", chain, check=False) != 0:
            table("-I", hook, "-j", chain)


def remove_guard(hook: str, chain: str, *, ipv6: bool = False) -> None:
    """Take the jump out of hook and delete the chain; nothing if it is gone."""
    for command in FAMILIES[ipv6]:
        if run_checked(command, "-w", "-C", hook, "-j", chain, check=False).returncode != 0:
            continue
        for args in (("-D", hook, "-j", chain), ("-F", chain), ("-X", chain)):
            run_checked(command, "-w", *args, check=False)
