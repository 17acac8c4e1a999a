#!/usr/bin/env bash
# Issue 21: oemeshd as a responder under load, the tree against BASE (a
# commit, default main's merge base), rounds alternated in one run so the
# box's load falls on both alike. Per round and binary: BenchmarkIKEScale
# (bench/ikeload) against oemeshd alone, N handshakes of each auth, CONC
# in flight, with oemeshd's CPU and mutex profiles over the first 3 s.
# Then per binary and auth the median responder CPU per handshake, and
# from the profiles merged over the rounds: the mutex wait per second of
# profile, and the CPU of everything per unit of X25519 (the two ladders
# every handshake runs, whatever the auth: a figure of the CPU per
# handshake that the load changes less than the wall-clock one).
# TREE=COMMIT compares that commit instead of the working tree (one
# change at a time: BASE=X^ TREE=X). The generator is the tree's.
# Root (namespaces, TUN); about 3 minutes with the defaults:
#   BASE=main ROUNDS=4 N=3000 CONC=8 AUTHS=psk,ed25519 \
#   flock /tmp/oemesh-bench.lock bench/responder-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "responder-ab: must run as root (network namespaces, TUN)" >&2
	exit 1
fi
GO=${GO:-go}
BASE=${BASE:-$(git merge-base HEAD main)}
ROUNDS=${ROUNDS:-4}
N=${N:-3000}
CONC=${CONC:-8}
AUTHS=${AUTHS:-psk,ed25519}
TREE=${TREE:-}

work=$(mktemp -d /tmp/responder-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/base" "$work/tree"
git archive "$BASE" | tar -x -C "$work/src"
(cd "$work/src" && $GO build -o "$work/base/" ./cmd/oemeshd ./cmd/oemesh)
if [ -n "$TREE" ]; then
	mkdir -p "$work/src-tree"
	git archive "$TREE" | tar -x -C "$work/src-tree"
	(cd "$work/src-tree" && $GO build -o "$work/tree/" ./cmd/oemeshd ./cmd/oemesh)
	tree="$(git rev-parse --short "$TREE")"
else
	$GO build -o "$work/tree/" ./cmd/oemeshd ./cmd/oemesh
	tree="$(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with changes)')"
fi
$GO test -c -o "$work/ikeload.test" ./bench/ikeload/
echo "base $(git rev-parse --short "$BASE"), tree $tree; $N handshakes per auth and round, $CONC in flight; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
	for b in base tree; do
		IKELOAD_BIN=$work/$b "$work/ikeload.test" -test.run '^$' -test.bench IKEScale -test.benchtime 1x -test.v \
			-scale.n "$N" -scale.concurrency "$CONC" -scale.rounds 1 -scale.auths "$AUTHS" -scale.responders oemeshd \
			-scale.profile "$work/prof/$b-r$r" -scale.profile.seconds 3 |
			awk -v b="$b" -v r="$r" -F'|' '/^\| [a-z0-9+]+ \| oemeshd /{gsub(/ /,""); print b, r, $2, $5, $4}' >>"$work/rows"
	done
	echo "round $r done, load average $(cut -d' ' -f1 /proc/loadavg)"
done
echo
echo "binary auth: responder CPU ms per handshake, each round; median; handshakes/s median"
awk '{k=$1" "$3; cpu[k]=cpu[k]" "$4; rate[k]=rate[k]" "$5} END {for (k in cpu) print k, cpu[k], "|", rate[k]}' "$work/rows" | sort |
	while read -r b a rest; do
		c=$(echo ${rest%%|*}); h=${rest#*|}
		med() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
		echo "$b $a:$c; median $(echo "$c" | med); $(echo "$h" | med)/s"
	done
echo
echo "profiles (merged over rounds and auths): mutex wait per profile second; all CPU / X25519 CPU"
# X25519: crypto/ecdh's ladder before 2e958e5 (key generation and shared secret),
# ike.x25519Ladder after it (the shared secret; key generation is fixed-base),
# curve25519-voi's Montgomery ladder from d090971 on (the shared secret).
for b in base tree; do
	mutex=$($GO tool pprof -top "$work/$b/oemeshd" "$work"/prof/$b-r*/*mutex.pprof 2>/dev/null | awk '/Total samples/ {print $0}')
	cpu=$($GO tool pprof -top -cum -nodecount=100000 "$work/$b/oemeshd" "$work"/prof/$b-r*/*cpu.pprof 2>/dev/null |
		awk '/Total samples/ {for (i=1;i<=NF;i++) if ($i=="=") t=$(i+1)} /(crypto\/ecdh\.x25519ScalarMult|oemesh\/ike\.x25519Ladder|curve25519-voi\/curve\.\(\*MontgomeryPoint\)\.Mul)$/ {x+=$4} END {print "all " t ", X25519 " (x == "" ? "" : x "s")}')
	echo "$b: mutex: ${mutex:-none}; cpu: $cpu"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
