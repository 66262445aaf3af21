#!/usr/bin/env bash
# localservices.sh makes PostgreSQL and Redis available on loopback for the
# tests and the demo, on any Debian machine, without Docker. It uses servers
# that already answer; otherwise it installs Debian's packages and starts
# them. Running it again changes nothing. It prints shell exports:
#
#   eval "$(deploy/localservices.sh)"
#
# Variables it honours: PG_PORT (5432), REDIS_PORT (6379), PG_PASSWORD
# (postgres), PMC_DB (pickmyclass).
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
PG_PASSWORD=${PG_PASSWORD:-postgres}
PMC_DB=${PMC_DB:-pickmyclass}

log() { echo "localservices: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		log "need root to run: $*"; exit 1
	fi
}

apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		as_root apt-get update -qq >&2
		apt_updated=1
	fi
	log "installing $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

wait_for() { # wait_for SECONDS CMD...: poll a readiness command, no blind sleeps
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

# ---- PostgreSQL -------------------------------------------------------------
pg_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
if ! command -v pg_isready >/dev/null || ! pg_up; then
	if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
		apt_install postgresql
	fi
	if ! pg_up; then
		version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
		if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
			as_root pg_createcluster "$version" main -p "$PG_PORT" >&2
		fi
		log "starting PostgreSQL $version"
		as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
		wait_for 30 pg_up || { log "PostgreSQL did not start"; exit 1; }
	fi
fi

PG_URL_BASE="postgres://postgres:${PG_PASSWORD}@127.0.0.1:${PG_PORT}"
psql_q() { psql "$PG_URL_BASE/postgres?sslmode=disable" -Atqc "$1"; }
if ! psql_q 'select 1' >/dev/null 2>&1; then
	# Fresh Debian clusters use scram over TCP with no password set: give the
	# superuser the local development password (peer auth over the socket).
	log "setting the local postgres password"
	as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD '${PG_PASSWORD}'\"" >&2
	psql_q 'select 1' >/dev/null || { log "cannot log in to PostgreSQL at 127.0.0.1:$PG_PORT"; exit 1; }
fi
for db in "$PMC_DB" "${PMC_DB}_test"; do
	if [ "$(psql_q "select 1 from pg_database where datname='$db'")" != 1 ]; then
		psql_q "create database \"$db\"" >/dev/null
		log "created database $db"
	fi
done

# ---- Redis ------------------------------------------------------------------
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
if ! command -v redis-cli >/dev/null || ! redis_up; then
	command -v redis-server >/dev/null || apt_install redis-server
	if ! redis_up; then
		log "starting Redis on 127.0.0.1:$REDIS_PORT"
		dir=${TMPDIR:-/tmp}/pickmyclass-redis
		mkdir -p "$dir"
		redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
			--appendonly yes --maxmemory-policy noeviction --logfile "$dir/redis.log" >&2
		wait_for 15 redis_up || { log "Redis did not start"; exit 1; }
	fi
fi

cat <<OUT
export DATABASE_URL='${PG_URL_BASE}/${PMC_DB}?sslmode=disable'
export TEST_DATABASE_URL='${PG_URL_BASE}/${PMC_DB}_test?sslmode=disable'
export REDIS_URL='redis://127.0.0.1:${REDIS_PORT}/0'
export TEST_REDIS_URL='redis://127.0.0.1:${REDIS_PORT}/1'
OUT
