#!/usr/bin/env bash
# Installs Debian's chromium package (used by the browser test in
# services/api/internal/web) when /usr/bin/chromium is missing. Runs apt-get
# as root, or through sudo otherwise. Exits non-zero when it cannot.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: apt-get not found; install Debian's chromium package by hand" >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "install-chromium: not root and no passwordless sudo; run: apt-get install chromium" >&2
		exit 1
	fi
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
test -x /usr/bin/chromium
