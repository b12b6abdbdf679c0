# shellcheck shell=bash disable=SC2034 # the URLs set here are read by services.sh
# lib-pg.sh — PostgreSQL for scripts/services.sh: use HOTLINE_DATABASE_URL, reuse a server
# on 127.0.0.1:5432, or run a private cluster under .data/pg.
# Sourced after lib-common.sh; sets PG_URL.

PG_DIR=$DATA/pg
PG_DATA=$PG_DIR/data
PG_SOCK=$PG_DIR/sock
PG_LOG=$PG_DIR/postgres.log
PG_PORT=${HOTLINE_PRIVATE_PG_PORT:-55432}
PG_SYSTEM_PORT=5432
PG_DB=hotline
PG_URL=

# pg_url prints the URL of database $2 on 127.0.0.1:$1 as user postgres.
pg_url() { printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable\n' "$1" "$2"; }

# pg_url_ok reports whether a connection URL answers `select 1` (never prompts for a password).
pg_url_ok() {
	[[ $(PGCONNECT_TIMEOUT=5 psql -X -w -A -t -q -c 'select 1' "$1" </dev/null 2>/dev/null) == 1 ]]
}

# pg_port_ok reports whether 127.0.0.1:$1 runs a PostgreSQL that lets user postgres in.
pg_port_ok() {
	pg_isready -q -t 3 -h 127.0.0.1 -p "$1" >/dev/null 2>&1 || return 1
	pg_url_ok "$(pg_url "$1" postgres)"
}

# pg_ensure_db creates database hotline on 127.0.0.1:$1 when it is missing.
pg_ensure_db() {
	local admin exists
	admin=$(pg_url "$1" postgres)
	exists=$(psql -X -w -A -t -q -c "select 1 from pg_database where datname = '$PG_DB'" "$admin" </dev/null 2>/dev/null) || true
	[[ $exists == 1 ]] && return 0
	psql -X -w -q -c "create database $PG_DB" "$admin" </dev/null >/dev/null 2>&1 && return 0
	# Another `up` may have created it at the same moment.
	pg_url_ok "$(pg_url "$1" "$PG_DB")" || die "postgres: cannot create database $PG_DB on 127.0.0.1:$1"
}

# pg_bindir prints the newest /usr/lib/postgresql/<major>/bin holding pg_ctl and initdb.
pg_bindir() {
	local found=(/usr/lib/postgresql/*/bin/pg_ctl)
	[[ -x ${found[0]} ]] || return 1
	printf '%s\n' "${found[@]%/pg_ctl}" | sort -V | tail -n 1
}

# pg_run runs a server command as the cluster's owner: ourselves, or the postgres system
# user when we are root (initdb and pg_ctl refuse to run as root).
pg_run() {
	if [[ $EUID -ne 0 ]]; then
		"$@"
	elif have runuser; then
		runuser -u postgres -- "$@"
	else
		su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
	fi
}

# pg_prepare_dir makes .data/pg and, as root, hands it to the postgres system user.
pg_prepare_dir() {
	mkdir -p "$PG_DIR" "$PG_SOCK"
	[[ $EUID -eq 0 ]] || return 0
	if ! id -u postgres >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
			--shell /usr/sbin/nologin postgres || die "postgres: cannot create the postgres system user"
	fi
	chown postgres: "$PG_DIR" "$PG_SOCK"
	pg_run test -w "$PG_DIR" ||
		die "postgres: system user postgres cannot write $PG_DIR (a parent folder is closed to it); move the checkout or run as a normal user"
}

# pg_private_port prints the port of the running private cluster, or fails when none runs.
pg_private_port() {
	local pid port
	[[ -f $PG_DATA/postmaster.pid ]] || return 1
	{
		read -r pid
		read -r _
		read -r _
		read -r port
	} <"$PG_DATA/postmaster.pid" || return 1
	pid_is "$pid" postgres || return 1
	printf '%s\n' "$port"
}

# pg_private_up starts (or finds running) the private cluster and sets PG_URL. The server
# must not inherit fd 9, services.sh's lock, or it would hold the lock for its lifetime.
pg_private_up() {
	local bindir port
	bindir=$(pg_bindir) || die "postgres: no server binaries under /usr/lib/postgresql"
	pg_prepare_dir
	if port=$(pg_private_port); then
		pg_ensure_db "$port"
		PG_URL=$(pg_url "$port" "$PG_DB")
		log "postgres: private instance already running on 127.0.0.1:$port (.data/pg)"
		return
	fi
	port=$PG_PORT
	if pg_isready -q -t 2 -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
		die "postgres: port $port is taken by a server we did not start; set HOTLINE_PRIVATE_PG_PORT to a free port"
	fi
	pg_initdb "$bindir"
	local sock=$PG_SOCK
	# Unix socket paths are limited to 107 bytes; beyond that, TCP only.
	((${#sock} + 20 < 107)) || sock=
	(cd "$PG_DIR" && pg_run "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
		-o "-p $port -k '$sock' -c listen_addresses=127.0.0.1" start) >"$PG_DIR/pg_ctl.out" 2>&1 9>&- ||
		die "postgres: private instance did not start on 127.0.0.1:$port (see .data/pg/postgres.log)"
	printf 'port=%s\n' "$port" >"$PG_DIR/started-by-services.sh"
	record_started postgres
	pg_ensure_db "$port"
	PG_URL=$(pg_url "$port" "$PG_DB")
	log "postgres: started private instance on 127.0.0.1:$port (.data/pg)"
}

# pg_initdb creates the private cluster once (trust auth, superuser postgres).
pg_initdb() {
	local bindir=$1 have_major want_major
	want_major=$(basename "$(dirname "$bindir")")
	if [[ -s $PG_DATA/PG_VERSION ]]; then
		have_major=$(<"$PG_DATA/PG_VERSION")
		[[ $have_major == "$want_major" ]] ||
			die "postgres: .data/pg was made by PostgreSQL $have_major, the installed server is $want_major; remove .data/pg (after scripts/services.sh down)"
		return 0
	fi
	(cd "$PG_DIR" && pg_run "$bindir/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale) \
		>"$PG_DIR/initdb.log" 2>&1 || die "postgres: initdb failed (see .data/pg/initdb.log)"
}

# pg_try_reuse uses a server on 127.0.0.1:5432 when user postgres gets in.
pg_try_reuse() {
	pg_port_ok "$PG_SYSTEM_PORT" || return 1
	pg_ensure_db "$PG_SYSTEM_PORT"
	PG_URL=$(pg_url "$PG_SYSTEM_PORT" "$PG_DB")
	log "postgres: reusing 127.0.0.1:$PG_SYSTEM_PORT"
}

# pg_up decides which PostgreSQL hotline uses and sets PG_URL.
pg_up() {
	need_cmd psql postgresql-client
	need_cmd pg_isready postgresql-client
	local given=${HOTLINE_DATABASE_URL:-}
	# Our own private URL in the environment (from an earlier `env`) is not a user choice.
	if [[ $SKIP_REUSE != 1 && -n $given && $given != "$(pg_url "$PG_PORT" "$PG_DB")" ]]; then
		pg_url_ok "$given" ||
			die "postgres: HOTLINE_DATABASE_URL is set but does not answer ($(redact "$given")); start that server or unset the variable"
		PG_URL=$given
		log "postgres: using HOTLINE_DATABASE_URL ($(url_hostport "$given"))"
		return
	fi
	if [[ $SKIP_REUSE != 1 ]] && pg_try_reuse; then
		return
	fi
	if ! pg_bindir >/dev/null; then
		apt_install postgresql
		# Debian's package may create and start a cluster on 5432: reuse it then.
		if [[ $SKIP_REUSE != 1 ]] && pg_try_reuse; then
			return
		fi
	fi
	pg_private_up
}

# pg_down stops the private cluster if it runs (its port goes to DOWN_PORT); it never
# touches any other server.
pg_down() {
	local bindir port
	if ! port=$(pg_private_port); then
		rm -f "$PG_DIR/started-by-services.sh"
		return 1
	fi
	bindir=$(pg_bindir) || die "postgres: no pg_ctl under /usr/lib/postgresql to stop .data/pg"
	(cd "$PG_DIR" && pg_run "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop) >"$PG_DIR/pg_ctl.out" 2>&1 ||
		die "postgres: could not stop the private instance (see .data/pg/pg_ctl.out)"
	rm -f "$PG_DIR/started-by-services.sh"
	DOWN_PORT=$port
	log "postgres: stopped private instance on 127.0.0.1:$port (.data/pg)"
}
