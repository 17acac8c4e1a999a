#!/usr/bin/env bash
# Issue 21: what oemeshd spends per responder handshake outside the IKE
# engine, the tree against BASE, runs alternated. Two benchmarks:
#   - BenchmarkResponderHooks (oe/dispatch): the calls the engine makes
#     into the dispatcher and the conns for one handshake of a road-warrior
#     conn (remote %any, as bench/ikeload drives oemeshd), from the key
#     prefetch to the CHILD SA's install, hooks and deletion, over the fake
#     data plane. BASE gets the tree's test file (it is newer than BASE).
#   - BenchmarkNetnsSAInstallDelete/routed (kernel/userspace): one CHILD SA
#     installed and deleted on a running userspace data plane, its host
#     route added and removed (root: a network namespace and a TUN device;
#     left out when not root).
# allocs/op does not depend on the load; ns/op does (medians of ROUNDS).
# About a minute with the defaults:
#   BASE=24af14a ROUNDS=5 flock /tmp/oemesh-bench.lock bench/outside-engine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BASE=${BASE:-24af14a} # main before the alloc21c commits
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d /tmp/outside-engine.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base"
git archive "$BASE" | tar -x -C "$work/base"
cp oe/dispatch/handshake_allocs_test.go oe/dispatch/dispatch_test.go "$work/base/oe/dispatch/"
root=0
[ "$(id -u)" -eq 0 ] && root=1
for b in base tree; do
	src=.
	[ "$b" = base ] && src=$work/base
	(cd "$src" && $GO test -c -o "$work/$b-dispatch.test" ./oe/dispatch/)
	[ "$root" -eq 1 ] && (cd "$src" && $GO test -c -o "$work/$b-userspace.test" ./kernel/userspace/)
done
echo "base $(git rev-parse --short "$BASE"), tree $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes); $ROUNDS rounds; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	for b in base tree; do
		(cd oe/dispatch && "$work/$b-dispatch.test" -test.run '^$' -test.bench '^BenchmarkResponderHooks$' -test.benchtime 20000x -test.benchmem) |
			awk -v b="$b" '/^Benchmark/ {print b, "hooks", $3, $7}'
		if [ "$root" -eq 1 ]; then
			(cd kernel/userspace && "$work/$b-userspace.test" -test.run '^$' -test.bench '^BenchmarkNetnsSAInstallDelete$/^routed$' -test.benchtime 3000x -test.benchmem) |
				awk -v b="$b" '/^Benchmark/ {print b, "sa-install-delete", $3, $7}'
		fi
	done
done >"$work/rows"
echo "binary benchmark: ns/op each round; median ns/op; allocs/op"
awk '{k=$1" "$2; ns[k]=ns[k]" "$3; al[k]=$4} END {for (k in ns) print k, al[k], ns[k]}' "$work/rows" | sort -k2,2 -k1,1 |
	while read -r b n al rest; do
		med=$(echo $rest | tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
		echo "$b $n: $rest; median $med ns/op; $al allocs/op"
	done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
