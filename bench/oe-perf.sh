#!/usr/bin/env bash
# The OE performance figures of issue 8 §5, on network namespaces on this
# machine, with the machine they were taken on:
#   - first packet → SA installed, cold and warm DNS cache, median of RUNS
#     (target ≤ 5 ms), and first packet → clear fallback for a host without
#     a key (target ≤ 50 ms): bench/oelatency. The cold figure comes once
#     per oemeshd ike.pq value in PQ (default "off,prefer": classical, then
#     the X25519 + ML-KEM-768 hybrid), side by side with their ratio; an
#     oemeshd without the ike.pq setting is measured with its default alone;
#   - responder memory per established peer with PEERS peers brought up by
#     our own IKE initiators (target ≤ 4 KiB): bench/oemem;
#   - issue 16's DNS figures: the DNS stub's added latency to the
#     application's answers, p50/p99, DNSSTUB queries a series (default
#     5000; 0 skips it): bench/dnsstub (bench/dnsstub.md); and the binding
#     store's memory at 100,000 names: dnskey's BenchmarkBindingsMemory.
#   - the prestart case runs with each configuration of the stub, the held
#     one with dns.stub.hold HOLD (default 50ms); OLD, a previous oemeshd
#     binary, runs it with that daemon too, for a before-and-after.
# Needs root. bench/oe-perf.md explains the figures and records a run.
#   RUNS=20 PEERS=1000 PQ=off,prefer PRESTART=forward,reverse HOLD=50ms OLD= DNSSTUB=5000 bench/oe-perf.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "oe-perf: must run as root (network namespaces, TUN)" >&2
	exit 1
fi
BIN=${BIN:-bin}
GO=${GO:-go}
RUNS=${RUNS:-20}
PEERS=${PEERS:-1000}
PQ=${PQ-off,prefer}
PRESTART=${PRESTART-forward,reverse}
DNSSTUB=${DNSSTUB:-5000}
HOLD=${HOLD:-50ms}
OLD=${OLD:-}

$GO build -o "$BIN/" ./cmd/oemeshd ./cmd/oemesh
. /etc/os-release
echo "machine: ${PRETTY_NAME:-?}, kernel $(uname -r), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $($GO version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== Time to SA installed and to clear fallback (targets: ≤ 5 ms, ≤ 50 ms); DNS-triggered prestart (target: first echo within 1 ms of an established tunnel's)"
$GO run ./bench/oelatency -bin "$BIN" -runs "$RUNS" -pq "$PQ" -prestart "$PRESTART" -hold "$HOLD" -old "$OLD"
echo
echo "== Responder memory per established peer (target ≤ 4 KiB)"
$GO run ./bench/oemem -bin "$BIN" -peers "$PEERS"
if [ "$DNSSTUB" -gt 0 ]; then
	echo
	echo "== The DNS stub's added latency to the application's answers (p50/p99)"
	$GO run ./bench/dnsstub -n "$DNSSTUB"
	echo
	echo "== Binding store memory at 100,000 names"
	$GO test -run '^$' -bench 'BindingsMemory' -benchtime 1x ./dnskey/ | grep -E '^Benchmark|^ok'
fi
