#!/usr/bin/env bash
# bench.sh — `make bench` (issue 2, "Benchmark"): every Go benchmark once, then the SIPp
# load driver when it exists (cmd/hotline-bench or cmd/bench). Not a pass/fail test.
# Extra arguments go to the load driver. Expects the env of scripts/services.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

go test -run '^$' -bench . -benchtime=1x ./...
for dir in cmd/hotline-bench cmd/bench; do
	if [[ -d $dir ]]; then
		go run "./$dir" "$@"
	fi
done
