#!/usr/bin/env bash
# check-build.sh proves, without Docker, that deploy/Dockerfile builds the
# same binaries as `make build`:
#   1. the Dockerfile's Go version is the workspace's (go.work),
#   2. its SERVICES build argument covers the Makefile's SERVICES,
#   3. the go build command of its build stage, extracted from the file and
#      run here for the host platform, succeeds for every service,
#   4. the Makefile's build command, run into another directory, produces
#      byte-identical binaries (same flags, same version stamp),
#   5. the binaries are static (CGO_ENABLED=0), trimmed, stripped and
#      carry the version stamp.
# Run from anywhere; `make lint` runs it through deploy/lint.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dockerfile=deploy/Dockerfile
version=check-build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-build: $*" >&2; exit 1; }

# Join continuation lines so each instruction is one line.
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile")

go_line=$(awk '$1 == "go" { print $2; exit }' go.work)
docker_go=$(sed -n 's/^ARG GO_VERSION=//p' <<<"$joined")
[ "$docker_go" = "$go_line" ] || fail "Dockerfile GO_VERSION=$docker_go, go.work says go $go_line"

docker_services=$(sed -n 's/^ARG SERVICES="\(.*\)"$/\1/p' <<<"$joined")
[ -n "$docker_services" ] || fail "no ARG SERVICES=\"...\" in $dockerfile"
# A clean make: run from `make lint`, the parent's flags and level would
# add "Entering directory" lines to the dry run.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "$@"; }
make_services=$(mk -s -p -n build 2>/dev/null | sed -n 's/^SERVICES := //p' | head -n1)
[ -n "$make_services" ] || fail "no SERVICES in the Makefile"
for s in $make_services; do
	case " $docker_services " in *" $s "*) ;; *) fail "service $s is built by the Makefile but not by $dockerfile" ;; esac
done

# The build stage's RUN: drop the instruction and its --mount options.
run=$(grep -E '^RUN .*go build' <<<"$joined" || true)
[ "$(grep -c . <<<"$run")" = 1 ] || fail "want exactly one RUN with go build in $dockerfile, found: $run"
cmd=$(sed -E -e 's/^RUN[[:space:]]+//' -e 's/--mount=[^[:space:]]+[[:space:]]+//g' <<<"$run")
cmd=${cmd//\/out/$tmp\/docker}
echo "check-build: Dockerfile: $cmd"
SERVICES="$docker_services" TARGETOS=$(go env GOOS) TARGETARCH=$(go env GOARCH) VERSION=$version \
	sh -ec "$cmd" || fail "the Dockerfile's build command failed"

# The Makefile's build command, into another directory.
makecmd=$(mk -n build VERSION=$version | sed "s#bin/#$tmp/make/#g")
[ "$(grep -c 'go build' <<<"$makecmd")" = 1 ] || fail "want one go build in make -n build, got: $makecmd"
mkdir -p "$tmp/make"
echo "check-build: Makefile: $(grep 'go build' <<<"$makecmd")"
sh -ec "$makecmd" || fail "the Makefile's build command failed"

for s in $make_services; do
	a=$tmp/docker/$s b=$tmp/make/$s
	[ -x "$a" ] || fail "$dockerfile built no $s"
	cmp -s "$a" "$b" || fail "$s: the Dockerfile's binary differs from the Makefile's"
	info=$(go version -m "$a")
	for want in 'CGO_ENABLED=0' '-trimpath=true'; do
		grep -qF -- "$want" <<<"$info" || fail "$s: build info lacks $want"
	done
	# -trimpath keeps -ldflags out of the build info: look for the stamp
	# itself, and for the symbol table that -s strips.
	# (only for a main package that declares the version variable).
	if grep -qE '^var version\b' services/"$s"/*.go; then
		grep -aqF "$version" "$a" || fail "$s: no version stamp $version in the binary"
	fi
	if go tool nm "$a" >/dev/null 2>&1; then fail "$s: the binary has a symbol table (-s missing)"; fi
done
[ "$("$tmp/docker/ops" version)" = "$version" ] || fail "ops version does not print $version"
for s in $docker_services; do
	[ -x "$tmp/docker/$s" ] || fail "$dockerfile built no $s"
done
echo "check-build: OK ($docker_services) match make build"
