"""The accounts API against a real server, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from accounts_harness import (
    PASSWORD,
    Accounts,
    accounts_database,
    running_accounts,
    totp_next,
    totp_now,
)
from bus_events import published

from storefleet.runtime.platform.events import contracts

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["embedded", "postgres"])
async def accounts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Accounts]:
    kind = request.param
    cache_url, prefix = "memory://", ""
    if kind == "postgres":
        cache_url = request.getfixturevalue("redis_url")
        prefix = f"sf-test-{uuid.uuid4().hex[:8]}:"
    with accounts_database(request, tmp_path_factory.mktemp("accounts"), kind) as url:
        async with running_accounts(
            url,
            cache_url=cache_url,
            cache_prefix=prefix,
            admin_emails=["owner@example.test"],
            lockout_threshold=5,
            attempts_per_minute=1000,
        ) as running:
            yield running


@pytest.fixture(autouse=True)
def events_keep_their_contracts(accounts: Accounts) -> Iterator[None]:
    """Every ``account.*`` event published during a test keeps its type's
    contract (runtime/src/storefleet/runtime/platform/events/contracts.py)."""
    yield
    broken = []
    for published_event in list(accounts.bus.recent):
        try:
            contracts.check_event(published_event)
        except contracts.ContractViolation as exc:
            broken.append(str(exc))
    assert not broken


@pytest_asyncio.fixture(loop_scope="session")
async def client(accounts: Accounts) -> AsyncIterator[httpx.AsyncClient]:
    async with accounts.client() as made:
        yield made


def email() -> str:
    return f"shopper-{uuid.uuid4().hex[:8]}@example.test"


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def is_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_sign_up_verify_sign_in_and_see_the_profile(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address = email()
    registered = await client.post(
        "/register", json={"email": address.upper(), "password": PASSWORD, "name": "Ada"}
    )
    assert registered.status_code == 202
    link = await accounts.wait_link("verification_requested", address)
    assert "/account/verify?token=" in link

    # Registering again before confirming sends a new link; the password stays.
    again_link = await client.post(
        "/register", json={"email": address, "password": "someone else's pass"}
    )
    assert again_link.status_code == 202
    sent = await published(
        accounts.bus,
        lambda e: e.type == "account.verification_requested" and e.payload["email"] == address,
        count=2,
    )
    links = [e.payload["link"] for e in sent]
    assert len(links) == 2
    assert links[0] != links[1]

    before = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    is_problem(before, 403)
    assert "confirm your e-mail" in before.json()["detail"]

    token = link.split("token=")[1]
    assert (await client.post("/verify-email", json={"token": token})).status_code == 200
    again = await client.post("/verify-email", json={"token": token})
    is_problem(again, 400)  # single use

    signed_in = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    assert signed_in.status_code == 200
    tokens = signed_in.json()
    me = await client.get("/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json()["email"] == address
    assert me.json()["roles"] == ["customer"]
    assert me.json()["email_verified"] is True


async def test_registering_a_taken_address_looks_the_same_and_warns_its_owner(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, _ = await accounts.sign_up(client)
    fresh = await client.post("/register", json={"email": email(), "password": PASSWORD})
    taken = await client.post("/register", json={"email": address, "password": PASSWORD})
    assert taken.status_code == fresh.status_code == 202
    assert taken.json() == fresh.json()
    warned = await published(
        accounts.bus,
        lambda e: e.type == "account.registration_attempted" and e.payload["email"] == address,
    )
    assert len(warned) == 1


async def timed(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    await client.post(path, json=body)
    return time.perf_counter() - started


async def test_sign_in_does_not_reveal_which_addresses_have_accounts(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, _ = await accounts.sign_up(client)
    wrong = await client.post("/sign-in", json={"email": address, "password": "not-it-at-all"})
    unknown = await client.post("/sign-in", json={"email": email(), "password": "not-it-at-all"})
    is_problem(wrong, 401)
    is_problem(unknown, 401)
    strip = {"request_id"}
    assert {k: v for k, v in wrong.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }
    # Timing: the same argon2 work either way. Fresh addresses each time, so the
    # lockout (5 failures per address) doesn't change the path taken.
    known_times, unknown_times = [], []
    someones = [(await accounts.sign_up(client))[0] for _ in range(8)]
    await asyncio.sleep(0.5)  # let the sign-ups' events go out first
    for someone in someones:
        known_times.append(
            await timed(client, "/sign-in", {"email": someone, "password": "wrong-password"})
        )
        unknown_times.append(
            await timed(client, "/sign-in", {"email": email(), "password": "wrong-password"})
        )
    known, unknown_ = statistics.median(known_times), statistics.median(unknown_times)
    assert abs(known - unknown_) < max(0.03, 0.5 * min(known, unknown_)), (known, unknown_)


async def test_password_reset_is_silent_single_use_and_ends_old_sessions(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, tokens = await accounts.sign_up(client)
    known_times, unknown_times = [], []
    for _ in range(4):
        known_times.append(await timed(client, "/password/forgot", {"email": address}))
        unknown_times.append(await timed(client, "/password/forgot", {"email": email()}))
    known, unknown_ = statistics.median(known_times), statistics.median(unknown_times)
    assert abs(known - unknown_) < 0.05, (known, unknown_)
    answer_known = await client.post("/password/forgot", json={"email": address})
    answer_unknown = await client.post("/password/forgot", json={"email": email()})
    assert answer_known.status_code == answer_unknown.status_code == 202
    assert answer_known.json() == answer_unknown.json()

    token = (await accounts.wait_link("password_reset_requested", address)).split("token=")[1]
    new_password = "a brand new passphrase"
    reset = await client.post("/password/reset", json={"token": token, "password": new_password})
    assert reset.status_code == 200
    replay = await client.post("/password/reset", json={"token": token, "password": PASSWORD})
    is_problem(replay, 400)

    old = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    is_problem(old, 401)
    new = await client.post("/sign-in", json={"email": address, "password": new_password})
    assert new.status_code == 200
    stale = await client.post("/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    is_problem(stale, 401)


async def test_expired_and_tampered_links_are_refused(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": accounts.auth.settings.issuer,
            "aud": "accounts:reset",
            "sub": "0" * 32,
            "jti": "1" * 32,
            "iat": now - 7200,
            "exp": now - 3600,
        },
        accounts.auth.settings.jwt_secret,
    )
    response = await client.post("/password/reset", json={"token": expired, "password": PASSWORD})
    is_problem(response, 400)
    assert "expired" in response.json()["detail"]
    address, _ = await accounts.sign_up(client)
    await client.post("/password/forgot", json={"email": address})
    good = (await accounts.wait_link("password_reset_requested", address)).split("token=")[1]
    body, signature = good.rsplit(".", 1)
    forged = f"{body}.{signature[::-1]}"
    response = await client.post("/password/reset", json={"token": forged, "password": PASSWORD})
    is_problem(response, 400)


async def test_repeated_failures_lock_the_address_known_or_not(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, _ = await accounts.sign_up(client)
    nobody = email()
    for who in (address, nobody):
        statuses = [
            (
                await client.post("/sign-in", json={"email": who, "password": "guess-" + str(n)})
            ).status_code
            for n in range(5)
        ]
        assert statuses == [401] * 5
    locked = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    is_problem(locked, 429)
    assert int(locked.headers["retry-after"]) > 0
    locked_unknown = await client.post("/sign-in", json={"email": nobody, "password": PASSWORD})
    is_problem(locked_unknown, 429)
    assert locked.json()["detail"] == locked_unknown.json()["detail"]


async def test_refresh_rotates_and_a_reused_token_ends_the_family(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    _, tokens = await accounts.sign_up(client)
    first = tokens["refresh_token"]
    rotated = await client.post("/token/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (await client.get("/me", headers=bearer(rotated.json()))).status_code == 200

    reused = await client.post("/token/refresh", json={"refresh_token": first})
    is_problem(reused, 401)
    # The thief's replay revoked the legitimate holder's newer token too.
    after = await client.post("/token/refresh", json={"refresh_token": second})
    is_problem(after, 401)


async def test_mfa_enrolment_challenge_and_recovery_codes(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, tokens = await accounts.sign_up(client)
    enrol = await client.post("/me/mfa", headers=bearer(tokens))
    assert enrol.status_code == 200
    secret = enrol.json()["secret"]
    assert enrol.json()["qr_svg"].startswith("<svg")
    assert enrol.json()["otpauth_uri"].startswith("otpauth://totp/")
    wrong = await client.post("/me/mfa/confirm", json={"code": "000000"}, headers=bearer(tokens))
    is_problem(wrong, 400)
    confirmed = await client.post(
        "/me/mfa/confirm", json={"code": totp_now(secret)}, headers=bearer(tokens)
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10

    step_one = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    assert step_one.status_code == 200
    assert step_one.json()["mfa_required"] is True
    assert "access_token" not in step_one.json()
    challenge = step_one.json()["challenge"]
    bad = await client.post("/sign-in/mfa", json={"challenge": challenge, "code": "123456"})
    is_problem(bad, 401)
    good = await client.post(
        "/sign-in/mfa", json={"challenge": challenge, "code": totp_next(secret)}
    )
    assert good.status_code == 200, good.text
    assert good.json()["access_token"]
    spent = await client.post(
        "/sign-in/mfa", json={"challenge": challenge, "code": totp_next(secret)}
    )
    assert spent.status_code in (400, 401)

    # A recovery code works once.
    for expected in (200, 401):
        challenge = (
            await client.post("/sign-in", json={"email": address, "password": PASSWORD})
        ).json()["challenge"]
        answer = await client.post(
            "/sign-in/mfa", json={"challenge": challenge, "code": codes[0].upper()}
        )
        assert answer.status_code == expected, answer.text
    events = [
        e["event"]
        for e in (await client.get("/me/security-events", headers=bearer(good.json()))).json()
    ]
    assert "mfa_enabled" in events
    assert "sign_in" in events


async def test_profile_preferences_and_addresses(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    _, tokens = await accounts.sign_up(client)
    auth = bearer(tokens)
    patched = await client.patch(
        "/me", json={"language": "de", "channels": {"sms": True, "email": False}}, headers=auth
    )
    assert patched.status_code == 200
    assert patched.json()["language"] == "de"
    assert patched.json()["channels"] == {"email": False, "sms": True, "push": False}
    home = {
        "label": "Home",
        "name": "Ada Shopper",
        "line1": "1 Main Street",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    first = await client.post("/me/addresses", json=home, headers=auth)
    assert first.status_code == 201
    assert first.json()["is_default"] is True
    work = home | {"label": "Work", "line1": "2 Office Road", "is_default": True}
    second = await client.post("/me/addresses", json=work, headers=auth)
    listed = (await client.get("/me/addresses", headers=auth)).json()
    assert [a["label"] for a in listed] == ["Work", "Home"]
    assert [a["is_default"] for a in listed] == [True, False]
    removed = await client.delete(f"/me/addresses/{second.json()['id']}", headers=auth)
    assert removed.status_code == 204

    _other_email, other = await accounts.sign_up(client)
    theirs = await client.delete(f"/me/addresses/{first.json()['id']}", headers=bearer(other))
    is_problem(theirs, 404)


async def test_export_then_erase_keeps_only_anonymised_records(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, tokens = await accounts.sign_up(client)
    auth = bearer(tokens)
    await client.post(
        "/me/addresses",
        json={
            "name": "Ada",
            "line1": "1 Main Street",
            "city": "Paris",
            "postal_code": "75001",
            "country": "FR",
        },
        headers=auth,
    )
    export = await client.get("/me/export", headers=auth)
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["profile"]["email"] == address
    assert data["addresses"][0]["city"] == "Paris"
    assert {"registered", "email_verified", "sign_in"} <= {
        e["event"] for e in data["security_events"]
    }

    refused = await client.post(
        "/me/erase", json={"password": "wrong", "confirm": "DELETE"}, headers=auth
    )
    is_problem(refused, 400)
    erased = await client.post(
        "/me/erase", json={"password": PASSWORD, "confirm": "DELETE"}, headers=auth
    )
    assert erased.status_code == 204
    again = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    is_problem(again, 401)
    # Erasure ends every sign-in: the access token is dead before it expires.
    is_problem(await client.get("/me", headers=auth), 401)
    is_problem(
        await client.post("/token/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )
    staff = accounts.bearer("staff-1", "support")
    user_id = data["profile"]["id"]
    trail = (await client.get(f"/admin/security-events?user_id={user_id}", headers=staff)).json()
    assert "account_erased" in [e["event"] for e in trail]
    assert all(e["ip"] == "" for e in trail)
    assert address not in str(trail)
    # The address can be used again for a new account.
    fresh = await client.post("/register", json={"email": address, "password": PASSWORD})
    assert fresh.status_code == 202


async def test_tampered_expired_and_foreign_tokens_are_refused(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    _, tokens = await accounts.sign_up(client)
    access = tokens["access_token"]
    header, payload, signature = access.split(".")
    claims = jwt.decode(access, options={"verify_signature": False})
    import base64
    import json

    promoted = (
        base64.urlsafe_b64encode(json.dumps(claims | {"roles": ["store-admin"]}).encode())
        .rstrip(b"=")
        .decode()
    )
    for bad in (
        f"{header}.{promoted}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
        jwt.encode(claims | {"exp": int(time.time()) - 600}, accounts.auth.settings.jwt_secret),
        jwt.encode(claims, "another store's secret, long enough for HS256"),
        jwt.encode(claims | {"iss": "storefleet:another-store"}, accounts.auth.settings.jwt_secret),
        jwt.encode(claims, "", algorithm="none") if False else f"{header}.{payload}.",
        "not-a-token",
    ):
        response = await client.get("/me", headers={"Authorization": f"Bearer {bad}"})
        is_problem(response, 401)
        assert (
            "invalid_token" in response.headers.get("www-authenticate", "") or bad == "not-a-token"
        )
    customers = await client.get("/admin/customers", headers=bearer(tokens))
    is_problem(customers, 403)


async def test_staff_see_customers_and_the_audit_log(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, _tokens = await accounts.sign_up(client)
    await client.post("/sign-in", json={"email": address, "password": "wrong password"})
    support = accounts.bearer("support-1", "support")
    found = await client.get(f"/admin/customers?q={address.split('@')[0]}", headers=support)
    assert found.status_code == 200
    assert [c["email"] for c in found.json()["items"]] == [address]
    log = (await client.get("/admin/security-events", headers=support)).json()
    assert any(e["event"] == "sign_in_failed" for e in log)
    user_id = found.json()["items"][0]["id"]
    as_support = await client.put(
        f"/admin/customers/{user_id}/roles", json={"roles": ["support"]}, headers=support
    )
    is_problem(as_support, 403)
    admin = accounts.bearer("admin-1", "store-admin")
    promoted = await client.put(
        f"/admin/customers/{user_id}/roles",
        json={"roles": ["customer", "vendor-staff"]},
        headers=admin,
    )
    assert promoted.json()["roles"] == ["customer", "vendor-staff"]


async def test_the_configured_owner_becomes_store_admin(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    _, tokens = await accounts.sign_up(client, "owner@example.test")
    assert (await client.get("/me", headers=bearer(tokens))).json()["roles"] == [
        "customer",
        "store-admin",
    ]
    assert (await client.get("/admin/customers", headers=bearer(tokens))).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/register", {"email": "not-an-address", "password": PASSWORD}),
        ("/register", {"email": "a@b.test", "password": "short"}),
        ("/register", {"email": "a@b.test", "password": "x" * 10_000}),
        ("/register", {"email": "a@b.test", "password": PASSWORD, "admin": True}),
        ("/sign-in", {"email": 3, "password": PASSWORD}),
        ("/sign-in", {"email": "a@b.test"}),
        ("/sign-in/mfa", {"challenge": "x" * 20, "code": "123456"}),
        ("/token/refresh", {"refresh_token": ["a"]}),
        ("/verify-email", {"token": "definitely.not.valid"}),
        ("/password/reset", {"token": "a.b.c.d.e.f.g", "password": PASSWORD}),
    ],
)
async def test_bad_input_is_a_problem_not_a_crash(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    malformed = await client.post(
        path, content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert 400 <= malformed.status_code < 500


async def test_mfa_required_by_store_policy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with accounts_database(request, tmp_path_factory.mktemp("policy"), "embedded") as url:
        async with running_accounts(url, mfa_policy="required") as strict, strict.client() as c:
            _, tokens = await strict.sign_up(c)
            assert tokens["mfa_enrolment_required"] is True
            auth = bearer(tokens)
            blocked = await c.get("/me/addresses", headers=auth)
            is_problem(blocked, 403)
            assert blocked.json()["type"] == "mfa_enrolment_required"
            assert (await c.get("/me", headers=auth)).json()["mfa_required"] is True
            secret = (await c.post("/me/mfa", headers=auth)).json()["secret"]
            confirm = await c.post("/me/mfa/confirm", json={"code": totp_now(secret)}, headers=auth)
            assert confirm.status_code == 200
            # New tokens (a refresh) carry full rights; off is not an option under this policy.
            refreshed = await c.post(
                "/token/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert refreshed.json()["mfa_enrolment_required"] is False
            auth = bearer(refreshed.json())
            assert (await c.get("/me/addresses", headers=auth)).status_code == 200
            off = await c.post("/me/mfa/disable", json={"code": totp_next(secret)}, headers=auth)
            is_problem(off, 409)


async def test_a_token_of_one_store_is_refused_by_another(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("tenants")
    with (
        accounts_database(request, directory, "embedded") as url_a,
        accounts_database(request, directory, "embedded") as url_b,
    ):
        async with (
            running_accounts(url_a, store="acme") as acme,
            running_accounts(url_b, store="globex") as globex,
            acme.client() as at_acme,
            globex.client() as at_globex,
        ):
            _, tokens = await acme.sign_up(at_acme)
            assert (await at_acme.get("/me", headers=bearer(tokens))).status_code == 200
            is_problem(await at_globex.get("/me", headers=bearer(tokens)), 401)
            refresh = await at_globex.post(
                "/token/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            is_problem(refresh, 401)
            # Even a store admin's token of one store is nobody at the other.
            admin = acme.bearer("owner", "store-admin")
            is_problem(await at_globex.get("/admin/customers", headers=admin), 401)


async def test_one_network_is_rate_limited_across_addresses(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with accounts_database(request, tmp_path_factory.mktemp("rate"), "embedded") as url:
        async with running_accounts(url, attempts_per_minute=4) as limited, limited.client() as c:
            statuses = [
                (await c.post("/sign-in", json={"email": email(), "password": "guess-one"}))
                for _ in range(6)
            ]
            assert [r.status_code for r in statuses] == [401] * 4 + [429] * 2
            assert int(statuses[-1].headers["retry-after"]) <= 60
            is_problem(statuses[-1], 429)
            # Registration and reset draw on their own allowances.
            assert (await c.post("/password/forgot", json={"email": email()})).status_code == 202
