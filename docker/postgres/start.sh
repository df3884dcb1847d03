#!/usr/bin/env bash
# PostgreSQL for tests and BI without Docker: makes sure a Debian cluster listens on
# ${PGPORT:-5432}, is started, and that postgres/postgres can log in over TCP (the tests' default
# URL is postgresql://postgres:postgres@localhost:5432/postgres). Installs Debian's `postgresql`
# package when it is missing. Idempotent; silent on success; one line on stderr on failure.
set -euo pipefail

PORT="${PGPORT:-5432}"
PASSWORD=postgres
ME="docker/postgres/start.sh"
LOG="$(mktemp -t dlrw-postgres.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

fail() {
    echo "$ME: $*" >&2
    exit 1
}

# The last line a failed step wrote, to go with its one-line error.
last_output() {
    grep -v '^\s*$' "$LOG" | tail -n 1 || true
}

can_log_in() {
    PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=3 psql -h localhost -p "$PORT" -U postgres \
        -d postgres -qAtc 'select 1' >/dev/null 2>&1
}

# Root runs commands directly; anyone else needs password-less sudo.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "needs root (or password-less sudo) to run: $*"
    fi
}

as_postgres() {
    # cd /: the postgres user cannot read root's home and psql would warn about it.
    (cd / && as_root runuser -u postgres -- "$@")
}

# Already up with the expected password: nothing to do.
if command -v psql >/dev/null && can_log_in; then
    exit 0
fi

if ! command -v pg_ctlcluster >/dev/null || ! command -v pg_lsclusters >/dev/null; then
    command -v apt-get >/dev/null ||
        fail "PostgreSQL is not installed and this is not Debian/Ubuntu; install PostgreSQL 15 and run it on port $PORT with user postgres/password postgres"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >"$LOG" 2>&1 || fail "apt-get update failed: $(last_output)"
    as_root apt-get install -y -qq postgresql >"$LOG" 2>&1 ||
        fail "apt-get install postgresql failed: $(last_output)"
fi

# Newest installed server version, e.g. 15 on Debian 12.
VERSION="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)"
[[ -n "$VERSION" ]] || fail "no PostgreSQL server under /usr/lib/postgresql; apt-get install -y postgresql"

# pg_lsclusters -h: "version cluster port status owner datadir logfile".
read -r CVERSION CLUSTER _ STATUS _ < <(pg_lsclusters -h | awk -v p="$PORT" '$3 == p' | head -n 1) || true
if [[ -z "${CLUSTER:-}" ]]; then
    if pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main"' | grep -q .; then
        fail "cluster $VERSION/main exists but not on port $PORT; set PGPORT to its port"
    fi
    as_root pg_createcluster --port "$PORT" "$VERSION" main >"$LOG" 2>&1 ||
        fail "pg_createcluster $VERSION main failed: $(last_output)"
    CVERSION="$VERSION" CLUSTER=main STATUS=down
fi

if [[ "$STATUS" != online* ]]; then
    as_root pg_ctlcluster "$CVERSION" "$CLUSTER" start >"$LOG" 2>&1 ||
        fail "pg_ctlcluster $CVERSION $CLUSTER start failed: $(last_output)"
fi

for _ in $(seq 1 60); do
    pg_isready -q -h localhost -p "$PORT" && break
    sleep 0.5
done
pg_isready -q -h localhost -p "$PORT" ||
    fail "PostgreSQL $CVERSION/$CLUSTER does not accept connections on port $PORT after 30s (log: /var/log/postgresql/postgresql-$CVERSION-$CLUSTER.log)"

# Over the local socket as the postgres OS user (peer auth), which needs no password yet.
as_postgres psql -p "$PORT" -qAtc "ALTER USER postgres PASSWORD '$PASSWORD'" >"$LOG" 2>&1 ||
    fail "setting the postgres password failed: $(last_output)"
can_log_in || fail "postgres/$PASSWORD cannot log in at localhost:$PORT; check pg_hba.conf of $CVERSION/$CLUSTER"
