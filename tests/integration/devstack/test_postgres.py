"""The dev stack's PostgreSQL is a real server with real isolation between roles."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql


def _dsn_as(admin_dsn: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", "", ""))


@pytest.fixture
def two_tenants(postgres_dsn: str) -> Iterator[dict[str, tuple[str, str]]]:
    """Two databases, each owned by its own login role that only it may connect to."""
    suffix = secrets.token_hex(4)
    tenants = {name: (f"{name}_{suffix}", secrets.token_urlsafe(16)) for name in ("acme", "globex")}
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        for role, password in tenants.values():
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(role), sql.Identifier(role)
                )
            )
            admin.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(role))
            )
    yield tenants
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        for role, _ in tenants.values():
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(role))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_a_role_works_in_its_own_database(
    postgres_dsn: str, two_tenants: dict[str, tuple[str, str]]
) -> None:
    role, password = two_tenants["acme"]
    with psycopg.connect(_dsn_as(postgres_dsn, role, password, role)) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total_cents integer)")
        conn.execute("INSERT INTO orders (total_cents) VALUES (1999)")
        total = conn.execute("SELECT sum(total_cents) FROM orders").fetchone()
    assert total == (1999,)


def test_a_role_is_refused_by_another_tenants_database(
    postgres_dsn: str, two_tenants: dict[str, tuple[str, str]]
) -> None:
    acme_role, acme_password = two_tenants["acme"]
    globex_database, _ = two_tenants["globex"]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(_dsn_as(postgres_dsn, acme_role, acme_password, globex_database))


def test_a_wrong_password_is_refused(postgres_dsn: str) -> None:
    parts = urlsplit(postgres_dsn)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_dsn_as(postgres_dsn, parts.username or "", "not-the-password", "postgres"))


def test_trigram_and_full_text_search_are_available(postgres_dsn: str) -> None:
    """The catalog's search needs pg_trgm, which comes with Debian's server package."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        row = conn.execute(
            "SELECT similarity('sneakers', 'snekers') > 0.3,"
            " to_tsvector('english', 'Red running shoes') @@ plainto_tsquery('english', 'shoe')"
        ).fetchone()
    assert row == (True, True)
