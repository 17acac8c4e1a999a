#!/usr/bin/env bash
# TCP throughput between two network namespaces in one run: plain veth,
# oemesh's userspace ESP data plane (AES-GCM-16 and ChaCha20-Poly1305),
# and wireguard-go in process, on the same box. Needs root.
#   bench/userspace-throughput.sh [-bytes N] [-runs N] [-no-wireguard]
# The kernel XFRM path cannot run on a kernel without ESP; compare with it
# in the VM test bed (internal/vmtest).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "userspace-throughput: must run as root (network namespaces, TUN)" >&2
	exit 1
fi
uname -sr
exec go run ./bench/usthroughput "$@"
