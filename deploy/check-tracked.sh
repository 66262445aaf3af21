#!/usr/bin/env bash
# check-tracked.sh fails when the repository tracks build output: a file
# that is an executable binary (ELF, Mach-O or PE magic, or a non-text file
# with the executable bit) or any file larger than 1 MB. The repository holds
# sources only; `make build` writes binaries to bin/, which .gitignore covers.
#
#   deploy/check-tracked.sh [REPO]   (REPO defaults to this repository)
#
# `make lint` runs it through deploy/lint.sh; deploy/check tests it on a
# scratch repository with a planted binary.
set -euo pipefail

repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$repo"
limit=$((1024 * 1024))
bad=0
report() { echo "check-tracked: $1: $2" >&2; bad=1; }

# nontext FILE succeeds when the first 8000 bytes hold a NUL byte, the test
# git itself uses to tell binary from text.
nontext() {
	local all stripped
	all=$(head -c 8000 "$1" | wc -c)
	stripped=$(head -c 8000 "$1" | tr -d '\000' | wc -c)
	[ "$all" != "$stripped" ]
}

# Each line of `git ls-files -s -z` is "MODE OBJECT STAGE<TAB>PATH".
while IFS= read -r -d '' entry; do
	mode=${entry%% *}
	path=${entry#*$'\t'}
	[ -f "$path" ] || continue # deleted in the working tree, or a submodule
	size=$(stat -c %s -- "$path")
	if [ "$size" -gt "$limit" ]; then
		report "$path" "$size bytes, over the 1 MB limit for tracked files"
	fi
	magic=$(head -c 4 -- "$path" | od -An -tx1 | tr -d ' \n')
	case $magic in
	7f454c46) report "$path" "ELF executable"; continue ;;
	feedface | feedfacf | cefaedfe | cffaedfe | cafebabe) report "$path" "Mach-O executable"; continue ;;
	4d5a*) nontext "$path" && { report "$path" "PE (Windows) executable"; continue; } ;;
	esac
	if [ "$mode" = 100755 ] && nontext "$path"; then
		report "$path" "non-text file with the executable bit"
	fi
done < <(git ls-files -s -z)

[ "$bad" = 0 ] || { echo "check-tracked: remove build output with git rm --cached and list it in .gitignore" >&2; exit 1; }
echo "check-tracked: OK"
