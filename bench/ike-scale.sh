#!/usr/bin/env bash
# Issue 21's side-by-side IKE responder figures, in one run on this
# machine, the load generator (bench/ikeload, our own IKE engine as the
# initiators, from 10.1.0.0/16) and the responders sharing its cores:
#   - oemeshd (userspace data plane: each CHILD SA installed; the
#     benchmark checks it holds the warm-up's SAs), `oemesh respond`,
#     strongSwan 5.9.8 and strongSwan 6.1 (the sid chroot), both
#     kernel-libipsec, each cell in a fresh network namespace;
#   - authentication by Ed25519, RSA-2048 and PSK, and Ed25519 with the
#     hybrid X25519 + ML-KEM-768 key exchange (not strongSwan 5.9.8);
#   - per cell: handshakes/s, the responder's CPU per handshake (utime +
#     stime from /proc/PID/stat, before and after), its ratio to
#     strongSwan's, and latency p50/p99. A handshake is IKE_SA_INIT,
#     IKE_AUTH with one CHILD SA, then the delete of the IKE SA.
# Then the peak rate of PSK and NULL against oemeshd and `oemesh respond`
# with more handshakes in flight (PEAK_CONC; strongSwan is not configured
# for NULL here, and 5.9.8 has none).
# Needs root and `make deps` (strongSwan 5.9.8 and the 6.1 chroot).
# The default run takes about two minutes; N handshakes per cell and
# round, ROUNDS rounds (the cells' order rotates each round):
#   N=500 ROUNDS=2 CONC=8 AUTHS=ed25519,rsa,psk,ed25519+mlkem768 \
#   RESPONDERS=oemeshd,respond,strongswan5,strongswan6 PEAK_N=5000 PEAK_CONC=32 \
#   flock /tmp/oemesh-bench.lock bench/ike-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "ike-scale: must run as root (network namespaces, TUN, charon)" >&2
	exit 1
fi
GO=${GO:-go}
N=${N:-500}
ROUNDS=${ROUNDS:-2}
CONC=${CONC:-8}
AUTHS=${AUTHS:-ed25519,rsa,psk,ed25519+mlkem768}
RESPONDERS=${RESPONDERS:-oemeshd,respond,strongswan5,strongswan6}
PEAK_N=${PEAK_N:-5000}
PEAK_CONC=${PEAK_CONC:-32}
JSON=${JSON:-}

work=$(mktemp -d /tmp/ike-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
$GO build -o "$work/" ./cmd/oemeshd ./cmd/oemesh
$GO test -c -o "$work/ikeload.test" ./bench/ikeload/
. /etc/os-release
echo "machine: ${PRETTY_NAME:-?}, kernel $(uname -r), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $($GO version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== Responder CPU per handshake, side by side ($N handshakes per cell and round, $ROUNDS rounds, $CONC in flight)"
echo "   targets: oemeshd ≤ 1/3 of strongSwan's for Ed25519 and PSK (ratio ≤ 0.33), RSA-2048 ≤ 0.67"
IKELOAD_BIN=$work "$work/ikeload.test" -test.run '^$' -test.bench IKEScale -test.benchtime 1x -test.v \
	-scale.n "$N" -scale.rounds "$ROUNDS" -scale.concurrency "$CONC" \
	-scale.auths "$AUTHS" -scale.responders "$RESPONDERS" ${JSON:+-scale.json "$JSON"} \
	| grep -v -E '^(goos|goarch|pkg|cpu|PASS|ok)' 
echo
echo "== Peak PSK and NULL handshakes/s, $PEAK_N handshakes, $PEAK_CONC in flight (target ≥ 5,000/s)"
IKELOAD_BIN=$work "$work/ikeload.test" -test.run '^$' -test.bench IKEScale -test.benchtime 1x -test.v \
	-scale.n "$PEAK_N" -scale.rounds 1 -scale.concurrency "$PEAK_CONC" -scale.auths psk,null -scale.responders oemeshd,respond \
	| grep -v -E '^(goos|goarch|pkg|cpu|PASS|ok)'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
