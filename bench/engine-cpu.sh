#!/usr/bin/env bash
# The IKE engine's own CPU per handshake as a responder (issue 21): the
# in-memory BenchmarkHandshake (ike/bench_handshake_test.go; no sockets,
# DNS or data plane), the tree against BASE side by side, runs
# alternated, and where the responder's time goes (a CPU profile of the
# tree, by component). bench/README.md ("Responder CPU", "The engine's
# handshake path") records a run. About two minutes; no root needed.
#   BASE=dfc5cc7 ROUNDS=5 N=2000 CASES='psk|ed25519' flock /tmp/oemesh-bench.lock bench/engine-cpu.sh
# resp-ns/op is the responder's thread CPU time, so other processes on a
# busy machine count for little; allocs/op and resp-B/op do not depend on
# the load at all.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BASE=${BASE:-dfc5cc7} # main before the engine21 commits
ROUNDS=${ROUNDS:-5}
N=${N:-2000}
CASES=${CASES:-psk|ed25519}
work=$(mktemp -d /tmp/engine-cpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base"
git archive "$BASE" | tar -x -C "$work/base"
(cd "$work/base/ike" && $GO test -c -o "$work/base.test" .)
(cd ike && $GO test -c -o "$work/tree.test" .)
. /etc/os-release
echo "machine: ${PRETTY_NAME:-?}, kernel $(uname -r), $(nproc) cores, $($GO version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "base $BASE, tree $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes); rounds: $ROUNDS, handshakes per case and round: $N"
echo
cd ike
for r in $(seq "$ROUNDS"); do
	for b in base tree; do
		"$work/$b.test" -test.run '^$' -test.bench "^BenchmarkHandshake/($CASES)\$" -test.benchmem -test.benchtime "${N}x" |
			grep '^Benchmark' | sed "s/^/$b /"
	done
done | tee "$work/runs.txt"
echo
echo "== medians (resp-ns/op: the responder's CPU; resp-allocs/op its allocations, - where BASE does not report them; allocs/op and B/op: both sides)"
# Fields by the unit that follows each value, not by position: a tree and
# a BASE may report different metrics (resp-allocs/op is newer).
awk '{ k = $2 " " $1; ra = "-"
	for (i = 4; i <= NF; i++) {
		if ($i == "resp-ns/op") ns[k] = ns[k] " " $(i - 1)
		if ($i == "allocs/op") al[k] = $(i - 1)
		if ($i == "resp-B/op") rb[k] = $(i - 1)
		if ($i == "resp-allocs/op") ra = $(i - 1)
	}
	rab[k] = ra }
END { for (k in ns) { n = split(ns[k], v, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	printf "%-40s resp-ns/op %8.0f   resp-B/op %6d   resp-allocs/op %6s   allocs/op %4d\n", k, m, rb[k], rab[k], al[k] } }' "$work/runs.txt" | sort
echo
echo "== where the tree's responder CPU goes (share of its HandlePacket calls)"
"$work/tree.test" -test.run '^$' -test.bench "^BenchmarkHandshake/($CASES)\$" -test.benchtime "$((N * 3))x" \
	-test.cpuprofile "$work/cpu.pprof" >/dev/null
$GO tool pprof -top -cum -nodecount=1000 -tagfocus side=responder "$work/tree.test" "$work/cpu.pprof" 2>/dev/null >"$work/top.txt"
total=$(awk '$NF ~ /ike\.\(\*Engine\)\.HandlePacket$/ { v = $4; ms = (v ~ /ms$/); sub(/m?s$/, "", v); if (ms) v /= 1000; print v; exit }' "$work/top.txt")
while IFS='|' read -r what re; do
	awk -v what="$what" -v re="$re" -v total="$total" '$NF ~ re { v = $4; ms = (v ~ /ms$/); sub(/m?s$/, "", v); if (ms) v /= 1000
		printf "%-58s %5.1f%%\n", what, 100 * v / total; exit }' "$work/top.txt"
done <<'EOF'
X25519: our key pair (GenerateDH)|ike\.GenerateDH$
X25519: the shared secret|ike\.\(\*DHPrivate\)\.SharedSecret$
Ed25519: verifying the initiator's AUTH|primitives/ed25519\.VerifyWithOptions$
Ed25519: signing our AUTH|ike\.signAuth$
PRF (HMAC): SKEYSEED, AUTH octets, PSK pad|ike\.(PRFID\.Compute|hmacSum)$
prf+: the IKE and CHILD SA keys|ike\.prfPlus$
SK payloads: seal|ike\.\(\*SKCipher\)\.Seal$
SK payloads: open|wire\.\(\*Message\)\.Decrypt$
parsing (wire.ParseMessage)|wire\.ParseMessage$
encoding (wire.Message.Marshal)|wire\.\(\*Message\)\.Marshal$
proposal selection (Policy.Select)|ike\.Policy\.Select$
NAT detection hashes|ike\.natDetectionNotifies$
allocation (runtime.mallocgc)|runtime\.mallocgc$
hook contexts (context.WithTimeout)|context\.WithTimeout$
timers (scheduler.AfterFunc)|ike\.\(\*scheduler\)\.AfterFunc$
EOF
