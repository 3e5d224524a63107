# shellcheck shell=bash
# Helpers shared by kafka.sh, s3.sh and services.sh. Source it; don't run it.

# shellcheck disable=SC2034 # the variables below are used by the sourcing scripts
INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INTEGRATION_DIR/.." && pwd)"
CACHE_DIR="${TIDEMARK_CACHE:-${HOME:-/tmp}/.cache/tidemark}"
RUN_DIR="${TIDEMARK_RUN_DIR:-$INTEGRATION_DIR/.run}"
# Absolute, so that `services.sh env` can hand it to tests that run elsewhere.
[[ "$RUN_DIR" == /* ]] || RUN_DIR="$PWD/$RUN_DIR"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

die() {
	log "ERROR: $*"
	exit 1
}

# tail_log FILE...: print the last lines of each existing file to stderr.
tail_log() {
	local f
	for f in "$@"; do
		if [[ -s "$f" ]]; then
			printf -- '----- last 60 lines of %s -----\n' "$f" >&2
			tail -n 60 "$f" >&2
			printf -- '----- end of %s -----\n' "$f" >&2
		fi
	done
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: print a TCP port on 127.0.0.1 that is free right now.
free_port() {
	local p i
	if command -v python3 >/dev/null 2>&1 &&
		p="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null)" && [[ -n "$p" ]]; then
		echo "$p"
		return 0
	fi
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		if ! port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# pid_alive PIDFILE PATTERN: true if the pid in PIDFILE runs and its command
# line contains PATTERN (guards against a recycled pid).
pid_alive() {
	local pidfile="$1" pattern="$2" pid
	[[ -s "$pidfile" ]] || return 1
	pid="$(cat "$pidfile")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# stop_pid PIDFILE PATTERN NAME [GRACE_SECONDS]: SIGTERM the process, SIGKILL
# it after the grace period, remove PIDFILE. Idempotent.
stop_pid() {
	local pidfile="$1" pattern="$2" name="$3" grace="${4:-30}" pid i
	if ! pid_alive "$pidfile" "$pattern"; then
		rm -f "$pidfile"
		return 0
	fi
	pid="$(cat "$pidfile")"
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		pid_alive "$pidfile" "$pattern" || break
		sleep 0.1
	done
	if pid_alive "$pidfile" "$pattern"; then
		log "$name did not stop within ${grace}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pidfile" "$pattern" || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
}

# kill_pid PIDFILE PATTERN NAME: SIGKILL the process (a crash: no shutdown
# hooks run), wait until it is gone (bounded), remove PIDFILE. Idempotent.
kill_pid() {
	local pidfile="$1" pattern="$2" name="$3" pid i
	if ! pid_alive "$pidfile" "$pattern"; then
		rm -f "$pidfile"
		return 0
	fi
	pid="$(cat "$pidfile")"
	log "killing $name (pid $pid) with SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pidfile" "$pattern" || break
		sleep 0.1
	done
	pid_alive "$pidfile" "$pattern" && die "$name (pid $pid) still runs 10s after SIGKILL"
	rm -f "$pidfile"
}

# wait_port_free PORT SECONDS: wait until nothing accepts connections on
# 127.0.0.1:PORT; false if something still does after SECONDS.
wait_port_free() {
	local port="$1" deadline=$((SECONDS + $2))
	while port_open "$port"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# with_lock FILE CMD...: run CMD holding an exclusive flock on FILE, so that
# concurrent installs (two test binaries at once) don't trip over each other.
with_lock() {
	local lockfile="$1"
	shift
	mkdir -p "$(dirname "$lockfile")"
	if command -v flock >/dev/null 2>&1; then
		(
			flock -w 900 9 || die "timed out waiting for $lockfile"
			"$@"
		) 9>"$lockfile"
	else
		"$@"
	fi
}

sha256_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }
