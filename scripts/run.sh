#!/usr/bin/env bash
# run.sh — `make run` (issue 2, "Set-up, run, test"): PostgreSQL and Redis via
# scripts/services.sh, migrations, then bin/hotline serve in the foreground. Ctrl-C (or
# SIGTERM) reaches the server once, as SIGTERM, so it drains; a second one hangs up
# everything. On exit the private services that THIS run started are stopped again;
# services that were already running are left alone.
#
# Environment: HOTLINE_BIN (default bin/hotline, built by `make build`),
# HOTLINE_CONFIG (default configs/hotline.yaml); the rest as for scripts/services.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=${HOTLINE_BIN:-bin/hotline}
config=${HOTLINE_CONFIG:-configs/hotline.yaml}

[[ -x $bin ]] || {
	printf 'run: %s is missing: run "make build" first\n' "$bin" >&2
	exit 1
}

mkdir -p .data
started=$(mktemp .data/run-started.XXXXXX)

# shellcheck disable=SC2317 # reached through the EXIT trap
# cleanup stops what `services.sh up` started for this run, and keeps the exit status.
cleanup() {
	local rc=$? names=()
	trap - EXIT INT TERM
	mapfile -t names <"$started"
	rm -f "$started"
	if ((${#names[@]})); then
		scripts/services.sh down "${names[@]}" || rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT

SERVICES_STARTED_FILE=$started scripts/services.sh up
# shellcheck source=/dev/null
. .data/services.env
"$bin" migrate -config "$config"

# S5: ID numbers are encrypted with HOTLINE_SECRET_KEY. Without one, a key made
# once for this checkout is kept in .data/secret.key (mode 600); production sets
# its own and keeps it safe: losing it loses the ID numbers.
if [ -z "${HOTLINE_SECRET_KEY:-}" ]; then
	if [ ! -s .data/secret.key ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >.data/secret.key)
		echo "run: made a development key in .data/secret.key (set HOTLINE_SECRET_KEY in production)"
	fi
	HOTLINE_SECRET_KEY=$(cat .data/secret.key)
	export HOTLINE_SECRET_KEY
fi

# The server runs in its own process group (set -m), so the terminal's Ctrl-C reaches
# only this script, which passes it on exactly once per key press.
set -m
"$bin" serve -config "$config" &
pid=$!
set +m
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
while :; do
	rc=0
	wait "$pid" || rc=$?
	kill -0 "$pid" 2>/dev/null || break
done
exit "$rc"
