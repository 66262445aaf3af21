#!/usr/bin/env bash
# backup.sh dumps PostgreSQL from the running stack into BACKUP_DIR
# (default ./backups), compressed, and keeps the newest KEEP (default 14).
# Schedule it daily, e.g. in the owner's crontab:
#
#   15 3 * * * cd /home/pickmyclass/pickmyclass && deploy/vps/backup.sh >>backups/backup.log 2>&1
#
# Copy the backups off the machine too (rsync, restic, object storage).
#
# Restore (stops the services that write, restores into the same database):
#
#   docker compose stop api scheduler worker
#   gunzip -c backups/pickmyclass-YYYYmmdd-HHMMSS.sql.gz |
#     docker compose exec -T postgres sh -c 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
#   docker compose up -d
#
# The dump is made with --clean --if-exists, so it replaces the tables it
# holds. Redis needs no backup for correctness: its appendonly file keeps the
# queue across restarts, a lost queue is refilled by the next scheduler cycle,
# and the breaker and budgets rebuild themselves. Dead letters live only in
# Redis: `ops dlq list --count 1000 > file` before dropping its volume.
set -euo pipefail

cd "$(dirname "$0")/../.."
BACKUP_DIR=${BACKUP_DIR:-backups}
KEEP=${KEEP:-14}
if docker compose version >/dev/null 2>&1; then
	compose() { docker compose "$@"; }
else
	compose() { docker-compose "$@"; }
fi

mkdir -p "$BACKUP_DIR"
chmod 700 "$BACKUP_DIR"
file="$BACKUP_DIR/pickmyclass-$(date -u +%Y%m%d-%H%M%S).sql.gz"
tmp="$file.partial"
trap 'rm -f "$tmp"' EXIT

compose exec -T postgres sh -c 'pg_dump --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"' | gzip -9 >"$tmp"
# An empty or truncated dump must not rotate a good one away.
gzip -t "$tmp"
zgrep -q 'PostgreSQL database dump complete' "$tmp" || { echo "backup.sh: dump incomplete" >&2; exit 1; }
mv "$tmp" "$file"
echo "backup.sh: wrote $file ($(du -h "$file" | cut -f1))"

# Rotation: keep the newest $KEEP dumps.
find "$BACKUP_DIR" -maxdepth 1 -name 'pickmyclass-*.sql.gz' -printf '%T@ %p\n' |
	sort -rn | tail -n +"$((KEEP + 1))" | cut -d' ' -f2- | xargs -r rm -f --
