#!/usr/bin/env bash
# make demo: runs what oemesh can do today, and says plainly what it cannot yet.
#
# Today: the policy engine and the control plane. oemeshd starts with a sample
# policy directory, the CLI explains decisions through the daemon's control
# socket, a broken policy file is refused on reload (the old policy stays), and
# SIGTERM stops the daemon cleanly. The opportunistic mesh itself (namespaces,
# embedded DNS, IKE, ESP) is cmd/oemesh-lab, which is not built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}

work=$(mktemp -d /tmp/oemesh-demo.XXXXXX)
daemon_pid=""
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }

mkdir -p "$work/policies"
cat > "$work/policies/private-or-clear" <<'P'
# Try OE to the whole lab; fall back to clear for hosts without keys.
192.0.2.0/24
2001:db8::/32
P
cat > "$work/policies/private" <<'P'
# The database network: encrypted or nothing.
192.0.2.128/25
P
cat > "$work/policies/clear" <<'P'
# The lab's DNS server must stay reachable in the clear.
192.0.2.53
P
cat > "$work/policies/block" <<'P'
2001:db8:bad::/48
P
cat > "$work/oemesh.yaml" <<Y
policies: $work/policies
control_socket: $work/run/oemeshd.sock
log:
  level: info
Y
oemesh() { "$BIN/oemesh" --socket "$work/run/oemeshd.sock" "$@"; }

say "Policy files (most specific prefix wins across groups)"
for f in "$work"/policies/*; do echo "--- $(basename "$f")"; cat "$f"; done

say "Offline check, no daemon needed"
run "$BIN/oemesh" policy check --dir "$work/policies"

say "Start oemeshd"
"$BIN/oemeshd" --config "$work/oemesh.yaml" 2> "$work/oemeshd.log" &
daemon_pid=$!
for _ in $(seq 100); do oemesh status >/dev/null 2>&1 && break; sleep 0.05; done
run oemesh status

say "Which group applies, and which line decided it"
for a in 192.0.2.7 192.0.2.53 192.0.2.200 2001:db8::1 2001:db8:bad::1 203.0.113.9; do
	run oemesh policy explain "$a"
done
run oemesh policy explain --json 192.0.2.200

say "A broken policy file is refused on reload; the old policy stays in force"
echo "192.0.2.0/33" >> "$work/policies/block"
run oemesh policy reload
run oemesh policy explain 192.0.2.200

say "Fix it and reload with SIGHUP"
sed -i '$d' "$work/policies/block"
echo "198.51.100.0/24" >> "$work/policies/block"
kill -HUP "$daemon_pid"; sleep 0.3
run oemesh policy explain 198.51.100.7

say "Stop with SIGTERM"
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
echo "--- daemon log"; cat "$work/oemeshd.log"

say "Not yet in this demo"
cat <<'N'
The opportunistic mesh itself is not built yet: hosts in network namespaces
with an embedded DNS server, IKE between them, and ESP on the wire
(cmd/oemesh-lab). This demo runs only what exists today and claims nothing more.
N
