"""Accounts: the rules behind sign-up, sign-in, MFA, tokens and privacy, in
one object.

Nothing here tells a caller whether an e-mail address has an account: sign-in
answers the same for an unknown address and a wrong password (after the same
argon2 work), registration and password reset always answer "accepted", and
lockout counts failures per address whether or not it exists.

Each part is its own module and takes only what it needs: ``registration``
(sign-up and e-mail verification), ``signing_in`` (the password and
second-factor steps), ``sessions`` (access and rotating refresh tokens,
sign-out), ``passwords`` (reset and change), ``second_factor`` (TOTP and
recovery codes), ``profiles`` (profile, preferences, addresses), ``privacy``
(export and erasure), ``customers`` (staff's view) and the ``audit`` log. They
share the signed links (:mod:`.links`), the limits (:mod:`.limits`) and the
outbox write (:mod:`.changes`).
"""

from __future__ import annotations

from storefleet.runtime.accounts.audit import AuditLog
from storefleet.runtime.accounts.customers import Customers
from storefleet.runtime.accounts.limits import Lockout, Throttle
from storefleet.runtime.accounts.links import Links
from storefleet.runtime.accounts.passwords import Passwords
from storefleet.runtime.accounts.privacy import Privacy
from storefleet.runtime.accounts.profiles import Profiles
from storefleet.runtime.accounts.registration import Registration
from storefleet.runtime.accounts.second_factor import SecondFactor
from storefleet.runtime.accounts.secrets_at_rest import SecretBox
from storefleet.runtime.accounts.sessions import Sessions
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.signing_in import SigningIn
from storefleet.runtime.platform.events.outbox import OutboxRelay
from storefleet.runtime.platform.identity.tokens import Authenticator
from storefleet.runtime.platform.storage.cache import Cache
from storefleet.runtime.platform.storage.db import Database


class AccountsService:
    def __init__(
        self,
        db: Database,
        cache: Cache,
        settings: AccountsSettings,
        auth: Authenticator,
        relay: OutboxRelay,
        store_name: str = "Storefleet",
        box: SecretBox | None = None,
    ) -> None:
        self.db = db
        # MFA secrets are stored sealed; only this service opens them.
        self.box = box or SecretBox.from_setting(settings.secrets_key, settings.data_dir)
        self.settings = settings
        self.auth = auth
        self.relay = relay
        self.store_name = store_name
        self.audit = AuditLog(db)
        throttle = Throttle(cache, settings)
        lockout = Lockout(cache, settings)
        links = Links(auth, settings)
        self.sessions = Sessions(db, auth, settings, self.audit)
        self.second_factor = SecondFactor(
            db, cache, self.box, settings, relay, auth, lockout, self.audit, store_name
        )
        self.registration = Registration(db, settings, relay, throttle, links, self.audit)
        self.signing_in = SigningIn(
            db, settings, throttle, lockout, links, self.second_factor, self.sessions, self.audit
        )
        self.passwords = Passwords(
            db, settings, relay, throttle, lockout, links, self.sessions, self.audit
        )
        self.profiles = Profiles(db, settings, relay)
        self.privacy = Privacy(db, relay, self.profiles, self.sessions, self.audit, store_name)
        self.customers = Customers(db, self.sessions, self.audit)
