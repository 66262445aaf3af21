#!/usr/bin/env bash
# lint.sh validates the deployment files without Docker; `make lint` runs it.
#   - deploy/check-build.sh: the Dockerfile's go build equals `make build`
#   - caddy validate on the Caddyfile, plus checks of what it must do
#   - promtool check config / check rules / test rules on deploy/prometheus
#   - bash -n (and shellcheck when installed) on the deploy scripts
#   - deploy/check-tracked.sh: no tracked binary and no tracked file over 1 MB
# caddy and promtool come from Debian (caddy, prometheus) and are installed
# with apt-get when missing, as deploy/localservices.sh does for PostgreSQL.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail() { echo "lint.sh: $*" >&2; exit 1; }

need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null && return
	command -v apt-get >/dev/null || fail "$1 is missing and there is no apt-get; install $2"
	echo "lint.sh: installing $2 for $1"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
	command -v "$1" >/dev/null || fail "$2 installed no $1"
}

echo "== shell scripts"
for f in deploy/*.sh deploy/vps/*.sh; do
	bash -n "$f" || fail "$f: syntax error"
	[ -x "$f" ] || fail "$f is not executable"
done
if command -v shellcheck >/dev/null; then
	shellcheck -S warning deploy/*.sh deploy/vps/*.sh
fi

echo "== tracked files"
deploy/check-tracked.sh

echo "== Dockerfile build command"
deploy/check-build.sh

echo "== Caddyfile"
need caddy caddy
export DOMAIN=pickmyclass.example.com ACME_EMAIL=ops@example.com
caddy validate --config Caddyfile --adapter caddyfile >/dev/null 2>"${TMPDIR:-/tmp}/caddy-validate.$$" ||
	{ cat "${TMPDIR:-/tmp}/caddy-validate.$$" >&2; rm -f "${TMPDIR:-/tmp}/caddy-validate.$$"; fail "caddy validate failed"; }
rm -f "${TMPDIR:-/tmp}/caddy-validate.$$"
json=$(caddy adapt --config Caddyfile --adapter caddyfile 2>/dev/null)
for want in '"pickmyclass.example.com"' '"zstd"' '"gzip"' '"dial":"api:8080"' '"Strict-Transport-Security"' \
	'"/metrics"' '"/debug/*"' '"status_code":404' '"format":"json"' '"email":"ops@example.com"' \
	'"parameter":"token"' 'Referer"'; do
	grep -qF -- "$want" <<<"$json" || fail "Caddyfile: the adapted config lacks $want"
done
caddy fmt Caddyfile | diff -u Caddyfile - >/dev/null || fail "Caddyfile is not formatted (caddy fmt --overwrite Caddyfile)"

echo "== Prometheus"
need promtool prometheus
(
	cd deploy/prometheus
	promtool check config prometheus.yml >/dev/null
	promtool check rules alerts.yml >/dev/null
	promtool test rules alerts_test.yml >/dev/null
) || fail "promtool failed on deploy/prometheus"
# The alerts use the names the code exports.
for metric in pickmyclass_breaker_state pickmyclass_scheduler_last_sweep_timestamp_seconds \
	pickmyclass_stream_dead_letters pickmyclass_stream_lag pickmyclass_stream_oldest_pending_age_seconds \
	pickmyclass_emails_failed_total; do
	grep -qF "$metric" deploy/prometheus/alerts.yml || fail "alerts.yml does not use $metric"
	grep -rqF --include='*.go' "\"$metric\"" pkg services || fail "no Go code exports $metric, which alerts.yml uses"
done

echo "lint.sh: OK"
