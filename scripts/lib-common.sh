# shellcheck shell=bash
# lib-common.sh — helpers shared by scripts/services.sh and its lib-pg.sh / lib-redis.sh
#. Sourced, never run: it expects `set -euo pipefail`
# and the variables ROOT and DATA from the caller.

# log prints one progress line on stdout; success stays at one line per service.
log() { printf '%s\n' "$*"; }

# die prints one clear line on stderr and stops with status 1.
die() {
	printf 'services.sh: %s\n' "$*" >&2
	exit 1
}

# have reports whether a command is on PATH.
have() { command -v "$1" >/dev/null 2>&1; }

# as_root runs a command as root: directly when we are root, else through sudo.
as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
		return
	fi
	have sudo || die "need root or sudo to run: $*"
	sudo "$@"
}

# APT_UPDATED makes sure one run does at most one `apt-get update`.
APT_UPDATED=0

# apt_install installs Debian packages quietly; the output goes to .data/apt.log.
apt_install() {
	have apt-get || die "apt-get not found: install $* by hand, then run this again"
	mkdir -p "$DATA"
	local logf=$DATA/apt.log
	log "installing $* with apt-get (log: .data/apt.log)"
	if [[ $APT_UPDATED -eq 0 ]]; then
		as_root apt-get update >>"$logf" 2>&1 || die "apt-get update failed (see .data/apt.log)"
		APT_UPDATED=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$logf" 2>&1 ||
		die "apt-get install $* failed (see .data/apt.log)"
}

# need_cmd installs package $2 when command $1 is missing.
need_cmd() {
	have "$1" && return 0
	apt_install "$2"
	have "$1" || die "$1 still missing after installing $2"
}

# redact hides the password of a URL before it is printed.
redact() {
	# shellcheck disable=SC2001 # a regex replacement, not a plain substitution
	sed 's#\(://[^:/@]*\):[^@/]*@#\1:***@#' <<<"$1"
}

# url_hostport prints host:port of a URL, for messages.
url_hostport() {
	local rest=${1#*://}
	rest=${rest#*@}
	printf '%s\n' "${rest%%[/?]*}"
}

# pid_is reports whether pid $1 is alive and its command line contains $2.
pid_is() {
	local pid=$1 want=$2 cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline)
	[[ $cmd == *"$want"* ]]
}

# record_started notes, for scripts/run.sh, a private service this run started.
record_started() {
	[[ -n ${SERVICES_STARTED_FILE:-} ]] || return 0
	printf '%s\n' "$1" >>"$SERVICES_STARTED_FILE"
}

# shell_quote prints a value single-quoted for a POSIX shell.
shell_quote() {
	local q=\'
	printf "'%s'" "${1//$q/$q\\$q$q}"
}
