#!/usr/bin/env bash
# Regenerates the Go code for every .proto under proto/ into pkg/gen/. Run it
# from anywhere (make proto runs it from the repo root); it needs protoc and
# protoc-gen-go on PATH or in $(go env GOPATH)/bin. The output is committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gobin="$(go env GOPATH)/bin"
fi
export PATH="$PATH:$gobin"

for tool in protoc protoc-gen-go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "generate.sh: $tool not found on PATH or in $gobin" >&2
		exit 1
	fi
done

mapfile -t files < <(cd proto && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
	echo "generate.sh: no .proto files under proto/" >&2
	exit 1
fi

# module= strips the Go import path prefix so go_package decides the
# directory under pkg/ (…/pkg/gen/stream/v1 → pkg/gen/stream/v1).
# Only generated files are removed, so a message deleted from the schema
# disappears from pkg/gen while hand-written doc.go files stay.
if [ -d pkg/gen ]; then
	find pkg/gen -name '*.pb.go' -delete
fi
(cd proto && protoc --proto_path=. \
	--go_out="$root/pkg" \
	--go_opt=module=github.com/pickmyclass/pickmyclass/pkg \
	"${files[@]}")
