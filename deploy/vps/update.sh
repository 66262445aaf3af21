#!/usr/bin/env bash
# update.sh deploys the checked-out branch's latest commit on the VPS:
# pull, build the images, run the migrations once, then recreate the
# services whose image changed. Run it from the repository as the user
# that owns the stack:  deploy/vps/update.sh [--no-pull]
#
# No work is lost: `docker compose up -d` stops an old worker with SIGTERM;
# it stops reading the stream and finishes its in-flight checks within
# WORKER_SHUTDOWN_TIMEOUT (stop_grace_period in docker-compose.yml leaves
# room for it). An entry it could not finish stays pending in Redis and
# another worker reclaims it.
set -euo pipefail

cd "$(dirname "$0")/../.."
[ -f .env ] || { echo "update.sh: no .env; cp .env.example .env and fill it in" >&2; exit 1; }
if docker compose version >/dev/null 2>&1; then
	compose() { docker compose "$@"; }
else
	compose() { docker-compose "$@"; }
fi

if [ "${1:-}" != "--no-pull" ]; then
	git pull --ff-only
fi
VERSION=$(git describe --always --dirty 2>/dev/null || echo dev)
export VERSION
echo "== building $VERSION"
compose build --pull

echo "== migrating"
compose up -d postgres redis
compose run --rm migrate

echo "== restarting"
# Keep the current number of workers (default 1).
workers=$(compose ps -q worker 2>/dev/null | wc -l)
compose up -d --remove-orphans --scale worker="$((workers > 0 ? workers : 1))"
compose ps
docker image prune -f >/dev/null
echo "update.sh: $VERSION is live"
