"""A read-only PostgreSQL role for BI tools (Metabase, Superset, …) on the ``marts`` schema.

The role may read every mart, now and after future builds (default privileges), and nothing
else: no CREATE on the schema, no INSERT / UPDATE / DELETE, and its sessions default to
read-only transactions as a second guard. Everything is idempotent, so `dlrw build` can call
``grant_bi_role`` after every dbt run.
"""

from __future__ import annotations

import os

from sqlalchemy import Connection, Engine, text

from ingest.errors import ConfigError

__all__ = ["BI_PASSWORD_ENV", "BI_ROLE", "MARTS_SCHEMA", "bi_password", "grant_bi_role"]

BI_ROLE = "dlrw_bi"
MARTS_SCHEMA = "marts"
BI_PASSWORD_ENV = "DLRW_BI_PASSWORD"


def bi_password() -> str | None:
    """The BI role's password from ``DLRW_BI_PASSWORD``; None leaves the password as it is."""
    return os.environ.get(BI_PASSWORD_ENV) or None


def _ident(conn: Connection, name: str) -> str:
    # The server quotes identifiers itself (quote_ident), so any role or schema name is safe.
    return str(conn.execute(text("select quote_ident(:n)"), {"n": name}).scalar_one())


def grant_bi_role(
    engine: Engine,
    password: str | None = None,
    *,
    role: str = BI_ROLE,
    schema: str = MARTS_SCHEMA,
) -> bool:
    """Create or update the read-only ``role`` on ``schema``; False (nothing done) off PostgreSQL.

    Run it as the role that builds the marts: default privileges apply to tables that role
    creates later.
    """
    if engine.dialect.name != "postgresql":
        return False
    if password is not None and "\x00" in password:
        raise ConfigError(f"{BI_PASSWORD_ENV} must not contain NUL characters")
    with engine.begin() as conn:
        r, s = _ident(conn, role), _ident(conn, schema)
        exists = conn.execute(
            text("select 1 from pg_roles where rolname = :r"), {"r": role}
        ).first()
        if not exists:
            conn.execute(text(f"create role {r}"))
        conn.execute(
            text(f"alter role {r} with login nosuperuser nocreatedb nocreaterole noreplication")
        )
        if password is not None:
            # PASSWORD takes no bind parameter: let the server quote the literal (format %L).
            statement: str = conn.execute(
                text("select format('alter role %I with password %L', :r, :p)"),
                {"r": role, "p": password},
            ).scalar_one()
            conn.execute(text(statement))
        database = _ident(conn, str(conn.execute(text("select current_database()")).scalar_one()))
        conn.execute(text(f"create schema if not exists {s}"))
        for statement in (
            f"grant connect on database {database} to {r}",
            f"grant usage on schema {s} to {r}",
            f"revoke create on schema {s} from {r}",
            f"grant select on all tables in schema {s} to {r}",
            f"alter default privileges in schema {s} grant select on tables to {r}",
            # BI tools then see the marts unqualified; read-only sessions are a second guard.
            f"alter role {r} in database {database} set search_path = {s}",
            f"alter role {r} in database {database} set default_transaction_read_only = on",
        ):
            conn.execute(text(statement))
    return True
