#!/usr/bin/env bash
# make demo: builds the daemon, the CLI and the lab driver, then runs
# `oemesh-lab run`: the OE mesh in network namespaces on this machine
# (DNS server with the hosts' IPSECKEY records; a, b, c and gateway g
# running oemeshd; d without a key; e behind g), every scenario of issue 8,
# and one row per flow with the capture's proof. Needs root. Extra
# arguments go to `oemesh-lab run` (e.g. --json, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
GO=${GO:-go}

$GO build -o "$BIN/" ./cmd/oemeshd ./cmd/oemesh ./cmd/oemesh-lab
exec "$BIN/oemesh-lab" run "$@"
