#!/usr/bin/env bash
# Installs (if missing) and starts the Debian PostgreSQL cluster, then creates
# RefNet's role and database. Idempotent: safe to run again at any time.
#
# Usable by hand or from `refnet stack up` (refnet.services.stack_postgres).
# Environment (all optional):
#   REFNET_PG_USER      role to create          (default refnet)
#   REFNET_PG_PASSWORD  its password            (default refnet)
#   REFNET_PG_DB        database it owns        (default refnet)
#   REFNET_PG_PORT      port of the cluster     (default 5432; a cluster on another
#                       port is created if none listens there)
# Needs root, or sudo for apt-get, pg_ctlcluster and the postgres user.
# The last lines on stdout are machine-readable, one key=value each:
#   cluster=<version>/<name>  port=<port>  started=yes|no  installed=yes|no
set -euo pipefail

PG_USER="${REFNET_PG_USER:-refnet}"
PG_PASSWORD="${REFNET_PG_PASSWORD:-refnet}"
PG_DB="${REFNET_PG_DB:-refnet}"
PG_PORT="${REFNET_PG_PORT:-5432}"

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
    as_postgres() { runuser -u postgres -- "$@"; }
else
    as_root() { sudo "$@"; }
    as_postgres() { sudo -u postgres "$@"; }
fi

say() { echo "setup.sh: $*" >&2; }

installed=no
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql ]; then
    say "installing the postgresql package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
    installed=yes
fi

# The cluster configured for the port (newest version first), else a new one on it
# with the newest installed server.
read -r version cluster < <(pg_lsclusters -h | sort -k1,1Vr |
    awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }') || true
if [ -z "${cluster:-}" ]; then
    version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -n 1)"
    if [ -z "$version" ]; then
        say "no PostgreSQL server found under /usr/lib/postgresql"
        exit 1
    fi
    cluster=main
    if [ -d "/etc/postgresql/$version/main" ]; then
        cluster="refnet$PG_PORT"
    fi
    say "creating cluster $version/$cluster on port $PG_PORT"
    as_root pg_createcluster -p "$PG_PORT" "$version" "$cluster" >&2
fi

cluster_field() {
    pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $'"$1"' }'
}

# A cluster the package installation just started counts as started by us:
# nobody else was using it before.
started="$installed"
if [ "$(cluster_field 4)" != "online" ]; then
    say "starting cluster $version/$cluster"
    as_root pg_ctlcluster "$version" "$cluster" start >&2
    started=yes
fi
port="$(cluster_field 3)"

# Role and database, created only when missing. The password is set every time
# so the DSN in the settings keeps working. psql variables quote the values.
as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres \
    -v user="$PG_USER" -v password="$PG_PASSWORD" -v db="$PG_DB" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL

echo "cluster=$version/$cluster"
echo "port=$port"
echo "started=$started"
echo "installed=$installed"
