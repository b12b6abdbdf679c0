#!/usr/bin/env bash
# bench.sh — `make bench`: every Go benchmark once, then
# the SIPp load driver when it exists (cmd/hotline-bench or cmd/bench) against a freshly
# built bin/hotline. Not a pass/fail test. Extra arguments go to the load driver, e.g.
#   -duration 10s -max-rate 800 -max-concurrent 3000 -out bench-results.md
#   -only bridge -max-bridge-rate 300 -max-bridged 1500 -talk 3s  
#   -pprof   (the server's /debug/pprof/ on its ops port during the run)
# -only takes a comma list of rate, hold, bridge (match, bridge-hold,
# bridge-rate, each also alone) and scrape (CPU per /metrics scrape); default all.
# -keep-going runs every bridged step.
# Expects the env of scripts/services.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Thousands of calls need thousands of sockets (one RTP socket per call on the
# server, two per bridged call, SIPp's and the sample callers' beside it): raise
# the soft limit as far as the hard limit allows.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < 16384)); then
	echo "bench.sh: open files limit is $(ulimit -n); the concurrency steps need ~2 per call" >&2
fi

go test -run '^$' -bench . -benchtime=1x ./...
go build -o bin/hotline ./cmd/hotline
for dir in cmd/hotline-bench cmd/bench; do
	if [[ -d $dir ]]; then
		go run "./$dir" "$@"
	fi
done
