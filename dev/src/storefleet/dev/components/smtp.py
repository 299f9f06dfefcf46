"""An SMTP sink: a mail server that delivers every message into a Maildir and
sends nothing on.

aiosmtpd (the project's own dependency) with its Mailbox handler, on loopback;
the relay puts it on the real node's bridge address too, so a Store's
notifications service can be pointed at it and tests can read what it sent.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import sys
from email.message import EmailMessage
from pathlib import Path

from storefleet.dev.components.base import Component
from storefleet.dev.processes import ensure_port_free, port_open, wait_until

PORT = int(os.environ.get("STOREFLEET_SMTP_PORT", "11025"))


class Smtp(Component):
    name = "smtp"
    process_names = ("aiosmtpd",)

    @property
    def maildir(self) -> Path:
        return self.directory / "maildir"

    def install(self) -> None:
        """aiosmtpd is installed with the project's development dependencies."""

    def up(self) -> None:
        proc = self.process("aiosmtpd")
        if proc.running():
            return
        ensure_port_free(PORT, proc)
        self.directory.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.maildir, create=True)  # its new/, cur/ and tmp/
        proc.start(
            [
                sys.executable, "-m", "aiosmtpd", "--nosetuid",
                "--listen", f"127.0.0.1:{PORT}",
                "--class", "aiosmtpd.handlers.Mailbox", str(self.maildir),
            ]
        )  # fmt: skip
        wait_until(lambda: port_open(PORT), process=proc, what="its port", timeout=30)

    def messages(self) -> list[EmailMessage]:
        """Every message the sink has received, oldest first."""
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        found = sorted(box.iteritems(), key=lambda item: item[1].get_date())
        return [
            email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
            for _, message in found
        ]

    def env(self) -> dict[str, str]:
        return {
            "STOREFLEET_SMTP_URL": f"smtp://127.0.0.1:{PORT}",
            "STOREFLEET_SMTP_MAILDIR": str(self.maildir),
        }

    def describe(self) -> str:
        return f"smtp://127.0.0.1:{PORT} (Maildir {self.maildir})"
