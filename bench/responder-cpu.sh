#!/usr/bin/env bash
# The responder's per-handshake costs (issue 21), one benchmark per fix,
# each at 100, 1,000 and 10,000 peers where it depended on the number of
# peers: what oemeshd does on every handshake it answers, outside the
# crypto. bench/README.md ("Responder CPU") records a run and the figures
# before each fix. Under a minute; no root needed.
#   bench/responder-cpu.sh            (run it under flock /tmp/oemesh-bench.lock on a shared box)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
. /etc/os-release
echo "machine: ${PRETTY_NAME:-?}, kernel $(uname -r), $(nproc) cores, $($GO version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== oe/tunnel: SameFlow, on every CHILD SA a responder installs (the peer's older SAs to replace)"
$GO test -run '^$' -bench 'SameFlow' -benchmem ./oe/tunnel/ | grep '^Benchmark'
echo
echo "== kernel/userspace: AllocSPI, the inbound SPI of every CHILD SA"
$GO test -run '^$' -bench 'AllocSPI' -benchmem ./kernel/userspace/ | grep '^Benchmark'
echo
echo "== ike: INITIAL_CONTACT, on nearly every first handshake (the peer's SAs from before its restart)"
$GO test -run '^$' -bench 'InitialContact' -benchmem ./ike/ | grep '^Benchmark'
echo
echo "== ike: RSA-2048 signing, RSASSA-PSS against PKCS #1 v1.5, CRT values precomputed or not"
$GO test -run '^$' -bench 'RSASign' -benchtime 200x ./ike/ | grep '^Benchmark'
echo
echo "== ike: a whole handshake in memory, responder CPU (no sockets, DNS or data plane)"
$GO test -run '^$' -bench '^BenchmarkHandshake$' -benchtime 200x ./ike/ | grep '^Benchmark'
