#!/usr/bin/env bash
# setup.sh prepares a fresh Debian 12 or Ubuntu 22.04/24.04 VPS (amd64 or
# arm64) for PickMyClass. Run it once, as root:
#
#   curl -fsSL .../deploy/vps/setup.sh | sudo bash      # or: sudo deploy/vps/setup.sh
#
# It installs Docker and the Compose plugin from the distribution's own
# packages, opens only SSH, HTTP and HTTPS in ufw, adds a swap file, turns
# on unattended security upgrades and creates a `pickmyclass` user that may
# run docker. It is safe to run again.
set -euo pipefail

SWAP_SIZE=${SWAP_SIZE:-2G}
APP_USER=${APP_USER:-pickmyclass}
SSH_PORT=${SSH_PORT:-22}

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }
. /etc/os-release
case "${ID:-}" in debian | ubuntu) ;; *) echo "setup.sh: Debian or Ubuntu only (found ${ID:-unknown})" >&2; exit 1 ;; esac
export DEBIAN_FRONTEND=noninteractive

echo "== packages"
apt-get update -q
apt-get install -y -q ca-certificates curl git ufw unattended-upgrades apt-listchanges
# Docker from the distribution (docker.io). Compose v2 is packaged as
# docker-compose-v2 (Ubuntu, Debian 13); Debian 12 ships only Compose v1
# (docker-compose 1.29), which also runs this stack (profiles and
# service_completed_successfully arrived in 1.28/1.29).
apt-get install -y -q docker.io
if apt-cache show docker-compose-v2 >/dev/null 2>&1; then
	apt-get install -y -q docker-compose-v2
elif apt-cache show docker-compose-plugin >/dev/null 2>&1; then
	apt-get install -y -q docker-compose-plugin
else
	apt-get install -y -q docker-compose
fi
systemctl enable --now docker

echo "== docker log rotation"
if [ ! -f /etc/docker/daemon.json ]; then
	cat >/etc/docker/daemon.json <<'JSON'
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "5" },
  "live-restore": true
}
JSON
	systemctl restart docker
fi

echo "== firewall: ssh ($SSH_PORT), http, https"
ufw default deny incoming
ufw default allow outgoing
ufw allow "$SSH_PORT"/tcp
ufw allow 80/tcp
ufw allow 443/tcp
ufw allow 443/udp
ufw --force enable
# Docker publishes ports through iptables ahead of ufw; the stack publishes
# only Caddy's 80/443 publicly and everything else on 127.0.0.1.

echo "== swap ($SWAP_SIZE)"
if ! swapon --show | grep -q /swapfile; then
	if [ ! -f /swapfile ]; then
		fallocate -l "$SWAP_SIZE" /swapfile || dd if=/dev/zero of=/swapfile bs=1M count=2048
		chmod 600 /swapfile
		mkswap /swapfile
	fi
	swapon /swapfile
	grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' >>/etc/fstab
fi
sysctl -q -w vm.swappiness=10
echo 'vm.swappiness=10' >/etc/sysctl.d/99-pickmyclass.conf
# Redis recommends overcommit for its background saves.
echo 'vm.overcommit_memory=1' >>/etc/sysctl.d/99-pickmyclass.conf
sysctl -q -p /etc/sysctl.d/99-pickmyclass.conf

echo "== unattended upgrades"
cat >/etc/apt/apt.conf.d/20auto-upgrades <<'APT'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
APT
systemctl enable --now unattended-upgrades

echo "== user $APP_USER"
id "$APP_USER" >/dev/null 2>&1 || adduser --disabled-password --gecos "PickMyClass" "$APP_USER"
usermod -aG docker "$APP_USER"

echo "setup.sh: done. Next, as $APP_USER: git clone the repository, cp .env.example .env, edit it, deploy/vps/update.sh"
