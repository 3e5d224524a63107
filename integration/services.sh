#!/usr/bin/env bash
# services.sh {start|stop|status|env|restart|kill} [kafka] [s3]: the
# integration-test services (Apache Kafka and an S3 server) on loopback. With
# no service names, all of them. See README.md.
#
#   start    install (once, into $TIDEMARK_CACHE) and start; idempotent
#   stop     stop; idempotent
#   status   print which services run; exit 1 if one named is not running
#   env      print `export TIDEMARK_...=...` lines for the running services,
#            TIDEMARK_RUN_DIR included: eval "$(bash integration/services.sh env)"
#   restart  stop (SIGTERM, bounded, then SIGKILL) and start again on the same
#            port with the same data; also brings back a killed service
#   kill     SIGKILL (a crash); the service stays down until `restart`
#
# TIDEMARK_RUN_DIR (default integration/.run) holds state, data and logs.
# TIDEMARK_OWNER_PID: with start, stop the services once that process is gone
# (the Go test harness sets it, so a killed test binary leaves nothing behind).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(kafka s3)
WATCHER_PID="$RUN_DIR/watcher.pid"

cmd="${1:-}"
shift || true
services=("$@")
((${#services[@]})) || services=("${ALL[@]}")
if [[ "$cmd" != watch ]]; then
	for s in "${services[@]}"; do
		[[ "$s" == kafka || "$s" == s3 ]] || die "unknown service $s (want kafka or s3)"
	done
fi

start_watcher() {
	local owner="$1"
	[[ "$owner" =~ ^[0-9]+$ ]] || die "TIDEMARK_OWNER_PID=$owner is not a pid"
	# One watcher per run dir; it stops everything there when the owner dies.
	pid_alive "$WATCHER_PID" "services.sh watch" && return 0
	mkdir -p "$RUN_DIR"
	setsid bash "$INTEGRATION_DIR/services.sh" watch "$owner" \
		</dev/null >>"$RUN_DIR/watcher.log" 2>&1 &
	echo $! >"$WATCHER_PID"
}

case "$cmd" in
start)
	mkdir -p "$RUN_DIR"
	[[ -n "${TIDEMARK_OWNER_PID:-}" ]] && start_watcher "$TIDEMARK_OWNER_PID"
	for s in "${services[@]}"; do
		bash "$INTEGRATION_DIR/$s.sh" start
	done
	;;
stop)
	for s in "${services[@]}"; do
		bash "$INTEGRATION_DIR/$s.sh" stop
	done
	if ! bash "$INTEGRATION_DIR/kafka.sh" status && ! bash "$INTEGRATION_DIR/s3.sh" status; then
		# The watcher itself runs `stop` with TIDEMARK_FROM_WATCHER set.
		if [[ -z "${TIDEMARK_FROM_WATCHER:-}" ]]; then
			stop_pid "$WATCHER_PID" "services.sh watch" watcher 5 2>/dev/null
		fi
		rm -f "$WATCHER_PID"
	fi
	;;
status)
	rc=0
	for s in "${services[@]}"; do
		if bash "$INTEGRATION_DIR/$s.sh" status; then
			echo "$s: running ($(tr '\n' ' ' <"$RUN_DIR/$s.env"))"
		else
			echo "$s: not running"
			rc=1
		fi
	done
	exit "$rc"
	;;
restart | kill)
	for s in "${services[@]}"; do
		bash "$INTEGRATION_DIR/$s.sh" "$cmd"
	done
	;;
env)
	# Check every service first, so that a failure prints no partial list.
	for s in "${services[@]}"; do
		if ! bash "$INTEGRATION_DIR/$s.sh" status || [[ ! -s "$RUN_DIR/$s.env" ]]; then
			die "$s is not running (bash integration/services.sh start)"
		fi
	done
	# Tests restart services through the run dir (testenv.RestartKafka).
	printf 'export TIDEMARK_RUN_DIR=%q\n' "$RUN_DIR"
	for s in "${services[@]}"; do
		while IFS='=' read -r k v; do
			[[ -n "$k" ]] && printf 'export %s=%q\n' "$k" "$v"
		done <"$RUN_DIR/$s.env"
	done
	;;
watch) # internal: services.sh watch OWNER_PID
	owner="${services[0]:-}"
	while kill -0 "$owner" 2>/dev/null; do sleep 1; done
	echo "$(date '+%F %T') owner $owner is gone: stopping services"
	TIDEMARK_FROM_WATCHER=1 bash "$INTEGRATION_DIR/services.sh" stop
	;;
*)
	echo "usage: $0 {start|stop|status|env|restart|kill} [kafka] [s3]" >&2
	exit 2
	;;
esac
