#!/usr/bin/env bash
# The long forms of internal/reliability's slow scenarios (docs/reliability.md),
# whose CI forms `make test-reliability` runs. Each section runs one scenario
# and prints its FIGURE lines. Needs root (network namespaces). Wrap it in
#   flock /tmp/oemesh-bench.lock bench/reliability-long.sh
# on a shared machine, so that no two benchmarks run at once.
#   bench/reliability-long.sh            # every long form
#   bench/reliability-long.sh loss       # one of them, by name
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "reliability-long: must run as root (network namespaces)" >&2
	exit 1
fi
want="${1:-all}"
echo "# $(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

run() { # run NAME TESTPATTERN [test flags...]
	local name=$1 pattern=$2
	shift 2
	[ "$want" = all ] || [ "$want" = "$name" ] || return 0
	echo "## $name"
	go test -count=1 -timeout 20m -v -run "$pattern" ./internal/reliability/ -args "$@" |
		grep -E 'FIGURE|^(---|===) |^(ok|FAIL|PASS)|want' || true
}

# Loss and reordering (TestLossReorder): 20 negotiations, a 30 s liveness
# watch and an 8 MiB TCP transfer under each condition; about 3 minutes.
run loss 'TestLossReorder$' -reliability.long
# Churn (TestChurn): 200 peers appear and disappear around one responder for
# 5 minutes (CHURN_PEERS, CHURN_DURATION change it); about 5.5 minutes.
OEMESH_CHURN_PEERS="${CHURN_PEERS:-200}" OEMESH_CHURN_DURATION="${CHURN_DURATION:-5m}" run churn 'TestChurn$'
