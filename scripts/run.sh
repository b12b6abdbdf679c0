#!/usr/bin/env bash
# run.sh — `make run`: PostgreSQL and Redis via
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

# The server logs in as hotline_server, a member of hotline_app (migration 0008):
# DML only, so it cannot drop the audit log's triggers; the migrations above ran
# as the owner. For development only: a password-less, trust-authenticated
# PostgreSQL. Elsewhere the server keeps HOTLINE_DATABASE_URL (README "Database roles").
server_db_url=$HOTLINE_DATABASE_URL
if [[ $HOTLINE_DATABASE_URL == postgres://postgres@* ]]; then
	candidate=postgres://hotline_server@${HOTLINE_DATABASE_URL#postgres://postgres@}
	if psql -X -w -q -v ON_ERROR_STOP=1 "$HOTLINE_DATABASE_URL" >/dev/null 2>&1 <<-'SQL' &&
		DO $$ BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_server') THEN
				CREATE ROLE hotline_server LOGIN IN ROLE hotline_app;
			END IF;
		END $$;
	SQL
		[[ $(psql -X -w -A -t -q -c 'select current_user' "$candidate" </dev/null 2>/dev/null) == hotline_server ]]; then
		server_db_url=$candidate
		echo "run: the server connects as hotline_server (member of hotline_app: no DDL)"
	else
		echo "run: could not set up the login role hotline_server; the server connects as the owner" >&2
	fi
fi

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

# SIP over TLS (port 5061) for development: a self-signed certificate made once
# for this checkout in .data/ (key mode 600). Production sets its own
# sip.tls.cert_file and key_file, or HOTLINE_SIP_TLS_CERT and HOTLINE_SIP_TLS_KEY.
if [ -z "${HOTLINE_SIP_TLS_CERT:-}" ] && command -v openssl >/dev/null; then
	if [ ! -s .data/sip-tls.crt ] || [ ! -s .data/sip-tls.key ]; then
		(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
			-subj "/CN=hotline development" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout .data/sip-tls.key -out .data/sip-tls.crt 2>/dev/null)
		echo "run: made a self-signed SIP TLS certificate in .data/sip-tls.crt (development only)"
	fi
	export HOTLINE_SIP_TLS_CERT=.data/sip-tls.crt HOTLINE_SIP_TLS_KEY=.data/sip-tls.key
fi

# Two demo agents, made once for this checkout, so that a softphone can
# register and take calls at once. Their passwords are kept in .data/demo-agents
# (mode 600) and printed on every run; an agent that already existed with
# another password is left as it is.
demo_agents() {
	local f=.data/demo-agents listed id name pw host
	(umask 077 && touch "$f")
	listed=$("$bin" agent -config "$config" list)
	host=$(hostname -I 2>/dev/null | awk '{print $1}')
	echo "run: demo agents (register as sip:<id>@${host:-127.0.0.1}:5060, dial *1 to log in, *0 to log out):"
	for id in 1001 1002; do
		name="Demo agent $id"
		pw=$(awk -v id="$id" '$1 == id { print $2 }' "$f")
		if ! awk -v id="$id" 'NR > 1 && $1 == id { found = 1 } END { exit !found }' <<<"$listed"; then
			[ -n "$pw" ] || pw=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)
			printf '%s\n' "$pw" | "$bin" agent -config "$config" add -id "$id" -name "$name" -staff "$id" \
				-categories inquiry,complaint,emergency,business -password-stdin >/dev/null
			(umask 077 && awk -v id="$id" '$1 != id' "$f" >"$f.new" && echo "$id $pw" >>"$f.new") && mv "$f.new" "$f"
		fi
		echo "run:   $id  password ${pw:-(set elsewhere: hotline agent password -id $id)}"
	done
}
demo_agents

# The server runs in its own process group (set -m), so the terminal's Ctrl-C reaches
# only this script, which passes it on exactly once per key press.
set -m
HOTLINE_DATABASE_URL=$server_db_url "$bin" serve -config "$config" &
pid=$!
set +m
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
while :; do
	rc=0
	wait "$pid" || rc=$?
	kill -0 "$pid" 2>/dev/null || break
done
exit "$rc"
