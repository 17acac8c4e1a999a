#!/bin/sh
# The IKE_SA_INIT flood (internal/reliability TestIKEFlood) in several
# configurations of the responder, one after the other in one run, and a
# table of what each gave: the flood offered and answered, the legitimate
# negotiations up within 2 s and their setup times, the pings through the
# established tunnel, the responder's CPU, and how long until the half-open
# SAs and cookie mode were back to their baseline.
#
#   sudo bench/ike-flood.sh                   # every configuration, as fast as the flooder can
#   sudo RATE=20000 FLOOD_SECONDS=15 bench/ike-flood.sh
#   sudo CONFIGS="before all" bench/ike-flood.sh
#
# RATE: requests per second (0: as fast as the flooder can; default 0).
# FLOOD_SECONDS: the flood's length (default 15). CONFIGS: which of the
# configurations below (default all seven, about 4 minutes). Needs
# root (network namespaces). The run takes /tmp/oemesh-bench.lock, so that
# two benchmarks never run at once (OEMESH_BENCH_LOCKED=1: the caller
# holds it, or chose to run without it).
set -eu
if [ -z "${OEMESH_BENCH_LOCKED:-}" ]; then
	OEMESH_BENCH_LOCKED=1 exec flock /tmp/oemesh-bench.lock "$0" "$@"
fi
cd "$(dirname "$0")/.."
RATE=${RATE:-0}
SECONDS_=${FLOOD_SECONDS:-15}
CONFIGS=${CONFIGS:-"before +read_batch +early_cookie +work_queue all cookies_off strongswan"}

# The configurations: each lever of ike.limits on top of the one before,
# from all of them off (what oemeshd did before issue 18) to the defaults.
config() {
	case $1 in
	before) printf 'ike:\n  limits:\n    early_cookie_check: false\n    cookies_per_source: 0\n    busy_half_open_timeout: 0s\n    read_batch: 1\n    work_queue: 0\n' ;;
	+read_batch) printf 'ike:\n  limits:\n    early_cookie_check: false\n    cookies_per_source: 0\n    busy_half_open_timeout: 0s\n    work_queue: 0\n' ;;
	+early_cookie) printf 'ike:\n  limits:\n    cookies_per_source: 0\n    busy_half_open_timeout: 0s\n    work_queue: 0\n' ;;
	+work_queue) printf 'ike:\n  limits:\n    cookies_per_source: 0\n    busy_half_open_timeout: 0s\n' ;;
	all) printf '' ;;
	# The defaults, but cookies never demanded: the threshold is above
	# the half-open limit (4096).
	cookies_off) printf 'ike:\n  limits:\n    cookie_threshold: 100000\n' ;;
	# charon 5.9.8 as the responder, with its default cookie settings
	# (TestIKEFloodStrongSwan).
	strongswan) printf '' ;;
	*) echo "unknown configuration $1" >&2; exit 2 ;;
	esac
}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/reliability.test" ./internal/reliability/

run() {
	cd internal/reliability
	for c in $CONFIGS; do
		test=TestIKEFlood strongswan=
		if [ "$c" = strongswan ]; then
			test=TestIKEFloodStrongSwan strongswan=1
		fi
		out=$(OEMESH_FLOOD_RATE=$RATE OEMESH_FLOOD_SECONDS=$SECONDS_ OEMESH_FLOOD_B_CONFIG="$(config "$c")" \
			OEMESH_FLOOD_STRONGSWAN=$strongswan "$bin/reliability.test" -test.run "$test\$" -test.v -test.count=1 2>&1 || true)
		row=$(printf '%s\n' "$out" | sed -n 's/.*FIGURE flood-row \(.*\)/\1/p')
		verdict=pass
		printf '%s\n' "$out" | grep -q -- '--- FAIL' && verdict=FAIL
		echo "| $c $row $verdict |"
		printf '%s\n' "$out" | grep 'FIGURE flood[ :]' | sed 's/^ *[a-z_]*_test.go:[0-9]*: /    /' >&2
	done
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg); rate ${RATE:-0}/s (0: as fast as the flooder can), ${SECONDS_} s"
echo "| configuration | flood offered | answered | legitimate within 2 s | setup median / p99 | ping loss / RTT p99 | responder CPU | back to baseline | TestIKEFlood |"
echo "|---|---|---|---|---|---|---|---|---|"
run
