"""A read-only PostgreSQL role for BI tools (Metabase, Superset, …) on the ``marts`` schema.

The role may read every mart, now and after future builds (default privileges), and nothing
else: no CREATE on the schema, no INSERT / UPDATE / DELETE, no temporary tables, no large
objects, no CONNECT to other databases, no privileges inherited from roles it may be granted;
its sessions default to read-only transactions as a second guard. Everything is idempotent, so
`dlrw build` can call ``grant_bi_role`` after every dbt run.

PostgreSQL cannot deny one role a privilege that PUBLIC holds, and by default PUBLIC may
connect to every database, create temporary tables in it and call the large-object functions.
Such a privilege is taken from PUBLIC and granted explicitly to every other role that can log
in, so only the BI role loses it; where the building role may not change it (another owner's
database, or the large-object functions without superuser), it is left as it is.
"""

from __future__ import annotations

import os

from sqlalchemy import Connection, Engine, text

from dlrw.ingest.errors import ConfigError

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
        # Roles and grants are server-wide: two builds granting at once would collide.
        conn.execute(text("select pg_advisory_xact_lock(hashtext('dlrw.grant_bi_role'))"))
        r, s = _ident(conn, role), _ident(conn, schema)
        exists = conn.execute(
            text("select 1 from pg_roles where rolname = :r"), {"r": role}
        ).first()
        if not exists:
            conn.execute(text(f"create role {r}"))
        conn.execute(
            text(
                f"alter role {r} with login nosuperuser nocreatedb nocreaterole noreplication "
                "noinherit nobypassrls"
            )
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
        _withhold_public_privileges(conn, role)
    return True


# Large-object functions that create, change or delete one (lo_open and the readers stay).
_LARGE_OBJECT_WRITERS = (
    "lo_creat(integer)",
    "lo_create(oid)",
    "lo_from_bytea(oid, bytea)",
    "lo_import(text)",
    "lo_import(text, oid)",
    "lo_put(oid, bigint, bytea)",
    "lowrite(integer, bytea)",
    "lo_truncate(integer, integer)",
    "lo_truncate64(integer, bigint)",
    "lo_unlink(oid)",
)


def _withhold_public_privileges(conn: Connection, role: str) -> None:
    """Take from ``role`` what PUBLIC gives it: CONNECT to the other databases, TEMPORARY on
    this one, EXECUTE on the large-object writers; each where the current role may."""
    superuser = bool(
        conn.execute(text("select rolsuper from pg_roles where rolname = current_user")).scalar()
    )
    databases: list[tuple[str, bool]] = [
        (str(name), bool(current))
        for name, current in conn.execute(
            text(
                "select datname, datname = current_database() from pg_database "
                "where datallowconn and pg_has_role(current_user, datdba, 'USAGE')"
            )
        )
    ]
    for name, current in databases:
        target = f"database {_ident(conn, name)}"
        _withhold(conn, role, "temporary" if current else "connect", target, "database", name)
    if superuser:
        for signature in _LARGE_OBJECT_WRITERS:
            _withhold(conn, role, "execute", f"function {signature}", "function", signature)


def _withhold(
    conn: Connection, role: str, privilege: str, target: str, kind: str, name: str
) -> None:
    """If PUBLIC holds ``privilege`` on ``target``, take it from PUBLIC and grant it to every
    other role that can log in, so that only ``role`` loses it."""
    public_holds = bool(
        conn.execute(
            text(f"select has_{kind}_privilege('public', :name, :privilege)"),
            {"name": name, "privilege": privilege},
        ).scalar_one()
    )
    if not public_holds:
        return
    others: list[str] = list(
        conn.execute(
            text(
                "select quote_ident(rolname) from pg_roles "
                "where rolcanlogin and not rolsuper and rolname <> :role"
            ),
            {"role": role},
        ).scalars()
    )
    conn.execute(text(f"revoke {privilege} on {target} from public"))
    for other in others:
        conn.execute(text(f"grant {privilege} on {target} to {other}"))
