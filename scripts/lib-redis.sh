# shellcheck shell=bash disable=SC2034 # the URLs set here are read by services.sh
# lib-redis.sh — Redis for scripts/services.sh: use HOTLINE_REDIS_URL, reuse a server on
# 127.0.0.1:6379, or run a private one under .data/redis.
# Sourced after lib-common.sh; sets REDIS_URL.

REDIS_DIR=$DATA/redis
REDIS_PID=$REDIS_DIR/redis.pid
REDIS_MARK=$REDIS_DIR/started-by-services.sh
REDIS_PORT=${HOTLINE_PRIVATE_REDIS_PORT:-56379}
REDIS_SYSTEM_PORT=6379
REDIS_URL=

# redis_url prints the URL of database 0 on 127.0.0.1:$1.
redis_url() { printf 'redis://127.0.0.1:%s/0\n' "$1"; }

# redis_url_ok reports whether a URL answers PING with PONG.
redis_url_ok() {
	[[ $(timeout 5 redis-cli -u "$1" ping </dev/null 2>/dev/null) == PONG ]]
}

# redis_port_ok reports whether 127.0.0.1:$1 answers PING without a password.
redis_port_ok() {
	[[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping </dev/null 2>/dev/null) == PONG ]]
}

# redis_private_port prints the port of the running private Redis, or fails when none runs.
redis_private_port() {
	local pid port
	[[ -f $REDIS_PID && -f $REDIS_MARK ]] || return 1
	pid=$(<"$REDIS_PID")
	pid_is "$pid" redis-server || return 1
	port=$(sed -n 's/^port=//p' "$REDIS_MARK")
	[[ -n $port ]] || return 1
	printf '%s\n' "$port"
}

# redis_private_up starts (or finds running) the private Redis and sets REDIS_URL. The server
# must not inherit fd 9, services.sh's lock, or it would hold the lock for its lifetime.
redis_private_up() {
	local port i
	if port=$(redis_private_port); then
		REDIS_URL=$(redis_url "$port")
		log "redis: private instance already running on 127.0.0.1:$port (.data/redis)"
		return
	fi
	port=$REDIS_PORT
	if redis_port_ok "$port"; then
		die "redis: port $port is taken by a server we did not start; set HOTLINE_PRIVATE_REDIS_PORT to a free port"
	fi
	mkdir -p "$REDIS_DIR"
	rm -f "$REDIS_PID"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
		--pidfile "$REDIS_PID" --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" >/dev/null 2>&1 9>&- ||
		die "redis: redis-server did not start (see .data/redis/redis.log)"
	for ((i = 0; i < 50; i++)); do
		redis_port_ok "$port" && break
		sleep 0.2
	done
	redis_port_ok "$port" || die "redis: private instance does not answer on 127.0.0.1:$port (see .data/redis/redis.log)"
	printf 'port=%s\n' "$port" >"$REDIS_MARK"
	record_started redis
	REDIS_URL=$(redis_url "$port")
	log "redis: started private instance on 127.0.0.1:$port (.data/redis)"
}

# redis_up decides which Redis hotline uses and sets REDIS_URL.
redis_up() {
	need_cmd redis-cli redis-tools
	local given=${HOTLINE_REDIS_URL:-}
	# Our own private URL in the environment (from an earlier `env`) is not a user choice.
	if [[ $SKIP_REUSE != 1 && -n $given && $given != "$(redis_url "$REDIS_PORT")" ]]; then
		redis_url_ok "$given" ||
			die "redis: HOTLINE_REDIS_URL is set but does not answer ($(redact "$given")); start that server or unset the variable"
		REDIS_URL=$given
		log "redis: using HOTLINE_REDIS_URL ($(url_hostport "$given"))"
		return
	fi
	if [[ $SKIP_REUSE != 1 ]] && redis_port_ok "$REDIS_SYSTEM_PORT"; then
		REDIS_URL=$(redis_url "$REDIS_SYSTEM_PORT")
		log "redis: reusing 127.0.0.1:$REDIS_SYSTEM_PORT"
		return
	fi
	if ! have redis-server; then
		apt_install redis-server
		# Debian's package may start a server on 6379: reuse it then.
		if [[ $SKIP_REUSE != 1 ]] && redis_port_ok "$REDIS_SYSTEM_PORT"; then
			REDIS_URL=$(redis_url "$REDIS_SYSTEM_PORT")
			log "redis: reusing 127.0.0.1:$REDIS_SYSTEM_PORT"
			return
		fi
	fi
	redis_private_up
}

# redis_down stops the private Redis if it runs (its port goes to DOWN_PORT); it never
# touches any other server.
redis_down() {
	local port pid i
	if ! port=$(redis_private_port); then
		rm -f "$REDIS_MARK"
		return 1
	fi
	pid=$(<"$REDIS_PID")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_is "$pid" redis-server || break
		sleep 0.2
	done
	pid_is "$pid" redis-server && die "redis: private instance (pid $pid) did not stop"
	rm -f "$REDIS_MARK" "$REDIS_PID"
	DOWN_PORT=$port
	log "redis: stopped private instance on 127.0.0.1:$port (.data/redis)"
}
