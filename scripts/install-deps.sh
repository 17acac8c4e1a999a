#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian 12 machine, as root:
# the Debian packages in scripts/apt-packages.txt that are missing, and the Go modules.
# Idempotent: a second run installs nothing and takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get install, network namespaces)" >&2
	exit 1
fi
command -v go >/dev/null || { echo "install-deps: no 'go' on PATH; install Go 1.26 first" >&2; exit 1; }

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/apt-packages.txt | grep -v '^$')
missing=()
for p in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
scripts/install-peers.sh   # IKE interop peers: libreswan (apt), strongSwan 5.9.8 unpacked and 6.1 in a sid chroot, in /opt/oemesh-peers (internal/peers)
go mod download
