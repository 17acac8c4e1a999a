#!/usr/bin/env bash
# The userspace tunnels side by side in one run, on one veth pair between
# two network namespaces: the bare veth, wireguard-go (in process), oemesh
# raw ESP and ESP-in-UDP with AES-GCM-128, and ESP-in-UDP with
# ChaCha20-Poly1305. For each: TCP with 1 and 4 streams, UDP 1,400-byte
# packets per second, CPU per GB at one offered load, and the round trip of
# a lone packet; ratios to wireguard-go and to the veth. Needs root. The
# default run takes about 3 minutes; -time and -runs make it longer.
#   bench/userspace-throughput.sh [-time 3s] [-runs 3] [-rate 300] [-rate-time 3s]
#                                 [-pings 200] [-no-wireguard] [-chacha-raw]
#   bench/userspace-throughput.sh -steps   # one row per issue-17 technique (bench/README.md)
# The kernel XFRM path cannot run on a kernel without ESP; compare with it
# in the VM test bed (internal/vmtest).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "userspace-throughput: must run as root (network namespaces, TUN)" >&2
	exit 1
fi
go build -o /tmp/usthroughput.$$ ./bench/usthroughput
trap 'rm -f /tmp/usthroughput.$$' EXIT
/tmp/usthroughput.$$ "$@"
