#!/usr/bin/env bash
# services.sh — the PostgreSQL and Redis that hotline needs, for `make run` and `make test`
#.
#
#   scripts/services.sh up      find or start PostgreSQL and Redis, write .data/services.env
#   scripts/services.sh env     print .data/services.env (eval "$(scripts/services.sh env)")
#   scripts/services.sh status  say what is used and whether it answers (non-zero if not)
#   scripts/services.sh down [postgres] [redis]
#                               stop the private instances this script started (all by default)
#   scripts/services.sh tools   install the test peers that are missing: sipp, baresip,
#                               espeak-ng, sox, prometheus (with promtool), chromium (with
#                               a CJK font, for the panel's browser test and screenshots)
#
# For each service `up` uses, in order: the URL in HOTLINE_DATABASE_URL / HOTLINE_REDIS_URL
# (it must answer); a server on 127.0.0.1:5432 / 127.0.0.1:6379 that lets user postgres in
# without a password / answers PING; else a private instance under .data/ on 127.0.0.1:55432 /
# 127.0.0.1:56379 (HOTLINE_PRIVATE_PG_PORT / HOTLINE_PRIVATE_REDIS_PORT), from Debian's
# binaries, installed with apt-get when missing. SERVICES_SKIP_REUSE=1 skips the first two
# and forces the private instances. `down` only stops what runs from .data/; servers found
# elsewhere are never stopped. SERVICES_STARTED_FILE=path makes `up` append the name of each
# instance it starts to that file (scripts/run.sh stops exactly those on exit).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=$ROOT/.data
ENV_FILE=$DATA/services.env
SKIP_REUSE=${SERVICES_SKIP_REUSE:-0}
# DOWN_PORT is the port of the private instance pg_down or redis_down just stopped.
DOWN_PORT=

# shellcheck source=scripts/lib-common.sh
. "$ROOT/scripts/lib-common.sh"
# shellcheck source=scripts/lib-pg.sh
. "$ROOT/scripts/lib-pg.sh"
# shellcheck source=scripts/lib-redis.sh
. "$ROOT/scripts/lib-redis.sh"

usage() {
	printf 'usage: scripts/services.sh up|down [postgres|redis]...|env|status|tools\n' >&2
	exit 2
}

# lock serialises `up` and `down` between terminals (two `make` runs at once).
lock() {
	mkdir -p "$DATA"
	have flock || return 0
	exec 9>"$DATA/.services.lock"
	flock 9
}

# write_env writes the two URLs atomically, readable by us only (a URL may hold a password).
write_env() {
	local tmp=$ENV_FILE.tmp.$$
	(
		umask 077
		{
			# shellcheck disable=SC2016 # printed literally, for the reader
			printf '# written by scripts/services.sh up; source it or eval "$(scripts/services.sh env)"\n'
			printf 'export HOTLINE_DATABASE_URL=%s\n' "$(shell_quote "$PG_URL")"
			printf 'export HOTLINE_REDIS_URL=%s\n' "$(shell_quote "$REDIS_URL")"
		} >"$tmp"
	)
	mv -f "$tmp" "$ENV_FILE"
}

cmd_up() {
	lock
	pg_up
	redis_up
	write_env
}

cmd_down() {
	local names=("$@") stopped=() name
	((${#names[@]})) || names=(postgres redis)
	lock
	for name in "${names[@]}"; do
		case $name in
		postgres) pg_down && stopped+=("$DOWN_PORT") ;;
		redis) redis_down && stopped+=("$DOWN_PORT") ;;
		*) die "down: unknown service $name (postgres or redis)" ;;
		esac
	done
	if ((${#stopped[@]} == 0)); then
		log "services: no private instance running"
		return
	fi
	# An env file naming a stopped server is removed; the next `up` writes it again.
	local port
	for port in "${stopped[@]}"; do
		if [[ -f $ENV_FILE ]] && grep -q "127\.0\.0\.1:$port/" "$ENV_FILE"; then
			rm -f "$ENV_FILE"
		fi
	done
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "no .data/services.env yet: run scripts/services.sh up"
	cat "$ENV_FILE"
}

cmd_status() {
	local bad=0 port
	if [[ ! -f $ENV_FILE ]]; then
		log "services: not set up (no .data/services.env): run scripts/services.sh up"
		bad=1
	else
		# shellcheck source=/dev/null
		. "$ENV_FILE"
		if pg_url_ok "$HOTLINE_DATABASE_URL"; then
			log "postgres: $(redact "$HOTLINE_DATABASE_URL") answers"
		else
			log "postgres: $(redact "$HOTLINE_DATABASE_URL") does NOT answer"
			bad=1
		fi
		if redis_url_ok "$HOTLINE_REDIS_URL"; then
			log "redis: $(redact "$HOTLINE_REDIS_URL") answers"
		else
			log "redis: $(redact "$HOTLINE_REDIS_URL") does NOT answer"
			bad=1
		fi
	fi
	if port=$(pg_private_port); then
		log "postgres: private instance running on 127.0.0.1:$port (.data/pg)"
	fi
	if port=$(redis_private_port); then
		log "redis: private instance running on 127.0.0.1:$port (.data/redis)"
	fi
	return "$bad"
}

# cmd_tools installs the test peers that are missing, with one apt-get update at most.
cmd_tools() {
	local missing=() present=()
	# sip-tester brings sipp and the RFC 4733 DTMF captures the SIPp tests play.
	if have sipp && [[ -f /usr/share/sip-tester/dtmf_2833_1.pcap ]]; then
		present+=(sipp)
	else
		missing+=(sip-tester)
	fi
	local bin
	for bin in baresip espeak-ng sox; do
		if have "$bin"; then present+=("$bin"); else missing+=("$bin"); fi
	done
	# Debian's prometheus ships promtool too; the metrics test runs both.
	if have prometheus && have promtool; then present+=(prometheus); else missing+=(prometheus); fi
	# The panel's browser test drives Debian's chromium; the font shows its Chinese.
	if [[ -x /usr/bin/chromium ]]; then present+=(chromium); else missing+=(chromium); fi
	if [[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]]; then present+=(fonts-wqy-microhei); else missing+=(fonts-wqy-microhei); fi
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
		have sipp || die "tools: sipp still missing after installing sip-tester"
		for bin in baresip espeak-ng sox prometheus promtool; do
			have "$bin" || die "tools: $bin still missing after apt-get install"
		done
		[[ -x /usr/bin/chromium ]] || die "tools: chromium still missing after apt-get install"
		log "tools: installed ${missing[*]}"
	else
		log "tools: sipp, baresip, espeak-ng, sox, prometheus and chromium present"
	fi
}

main() {
	(($# > 0)) || usage
	local sub=$1
	shift
	case $sub in
	up)
		(($# == 0)) || usage
		cmd_up
		;;
	down) cmd_down "$@" ;;
	env) cmd_env ;;
	status) cmd_status ;;
	tools) cmd_tools ;;
	*) usage ;;
	esac
}

main "$@"
