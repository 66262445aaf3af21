#!/usr/bin/env bash
# demo.sh runs the whole system locally, without Docker: the simulated ASU
# catalog, an SMTP sink (mailpit), the scheduler on a short interval, two
# workers and the API, with a demo user watching full sections. Seats open by
# themselves every few seconds; alert emails land in the sink within about
# two minutes. The banner prints the web app's address and the demo login
# (demo@pickmyclass.test / demo-password). Ctrl-C stops everything.
# `make demo` builds and runs it.
#
# Expects DATABASE_URL and REDIS_URL (deploy/localservices.sh prints them).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?run through make demo, or eval \"\$(deploy/localservices.sh)\" first}"
: "${REDIS_URL:?}"

RUN=${TMPDIR:-/tmp}/pickmyclass-demo
mkdir -p "$RUN"
GOBIN=$(go env GOPATH)/bin
MAILPIT=$(command -v mailpit || echo "$GOBIN/mailpit")
if [ ! -x "$MAILPIT" ]; then
	echo "demo: installing mailpit (the SMTP sink) with go install — about a minute the first time"
	go install github.com/axllent/mailpit@v1.33.1
	MAILPIT=$GOBIN/mailpit
fi

# A demo left running (or anything else on these ports) would answer the
# health checks below in place of this one's services: refuse to start.
for port in 8080 8025 1025 8090 9100 9101 9103 9104; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "demo: 127.0.0.1:$port is already in use (another demo still running?); stop it first" >&2
		exit 1
	fi
done

pids=()
cleanup() {
	echo; echo "demo: stopping"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "demo: stopped; logs are in $RUN"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_http() { # wait_http URL NAME
	for _ in $(seq 1 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
	echo "demo: $2 did not come up; see $RUN/$2.log"; exit 1
}

export REDIS_PREFIX="pmc:demo:$(date +%s):"   # a fresh queue every run
export LOG_FORMAT=console LOG_LEVEL=${LOG_LEVEL:-info}
export UNSUBSCRIBE_SECRET=${UNSUBSCRIBE_SECRET:-demo-only-secret-0123456789abcdef0123}
export PUBLIC_BASE_URL=http://127.0.0.1:8080
export ASU_API_BASE_URL=http://127.0.0.1:8090/catalog-microservices/api/v1/search
export SMTP_URL="smtp://127.0.0.1:1025?tls=none"
export SCHEDULER_INTERVAL=${SCHEDULER_INTERVAL:-30s}
export ASU_RATE=20 ASU_BURST=20

"$MAILPIT" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 --database "$RUN/mail.db" --disable-version-check >"$RUN/mailpit.log" 2>&1 &
pids+=($!)
ASUSIM_ADDR=127.0.0.1:8090 ASUSIM_CHURN=${ASUSIM_CHURN:-10s} bin/asusim >"$RUN/asusim.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:8025/api/v1/messages mailpit
wait_http http://127.0.0.1:8090/_sim/state asusim
curl -fs -X DELETE http://127.0.0.1:8025/api/v1/messages >/dev/null || true

bin/api >"$RUN/api.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:9100/readyz api
bin/ops demo seed | tee "$RUN/seed.log"

bin/scheduler >"$RUN/scheduler.log" 2>&1 &
pids+=($!)
for i in 1 2; do
	WORKER_NAME=demo-worker-$i WORKER_OPS_ADDR=127.0.0.1:$((9102 + i)) WORKER_SWEEP_INTERVAL=5s nice -n 10 bin/worker >"$RUN/worker-$i.log" 2>&1 &
	pids+=($!)
done

cat <<MSG

PickMyClass demo is running.
  Web app:           http://127.0.0.1:8080/
  Demo login:        demo@pickmyclass.test / demo-password
                     (friend@pickmyclass.test / demo-password watches some of the same classes)
  Alert emails:      listed below as they arrive; in full: http://127.0.0.1:8025/api/v1/messages
                     (mailpit's JSON API; one message: /api/v1/message/ID)
  Health report:     http://127.0.0.1:8080/api/monitoring/health
  Simulated catalog: http://127.0.0.1:8090/_sim/state
  Metrics:           http://127.0.0.1:9100/metrics (api), :9101 (scheduler), :9103 and :9104 (workers)
  Logs:              $RUN/*.log
Every section is checked every $SCHEDULER_INTERVAL; the simulator frees seats by itself.
New alert emails are listed below as they arrive. Ctrl-C stops everything.

MSG
seen=0
while true; do
	json=$(curl -fs "http://127.0.0.1:8025/api/v1/messages?limit=500" || true)
	n=$(printf '%s' "$json" | grep -o '"messages_count":[0-9]*' | head -n1 | cut -d: -f2)
	if [ "${n:-0}" -gt "$seen" ]; then
		# mailpit lists the newest first.
		printf '%s' "$json" | grep -o '"Subject":"[^"]*"' | head -n $((n - seen)) | tac |
			sed -e 's/^"Subject":"//' -e 's/"$//' -e "s/^/  $(date +%T) email: /"
		seen=$n
	fi
	sleep 3
done
