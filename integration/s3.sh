#!/usr/bin/env bash
# s3.sh {install|start|stop|status|restart|kill}: a real S3-compatible server
# (versitygw, POSIX backend) on 127.0.0.1, for integration tests.
#
#   install  build versitygw (pinned in the repo's tools.mod) into
#            $TIDEMARK_CACHE/bin/versitygw-<version> (once)
#   start    install if needed, serve a fresh directory on a free loopback
#            port, create the test bucket, write $RUN_DIR/s3.env
#   status   exit 0 if the server started here is running
#   stop     SIGTERM, then SIGKILL after 10 s; idempotent
#   restart  stop the server as `stop` does (if it runs), then serve the same
#            directory (bucket and objects kept) on the same port again, wait
#            until the bucket answers; works after `kill` and `stop` too
#   kill     SIGKILL the server and leave it down, its data and
#            $RUN_DIR/s3.env in place, until `restart`
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VGW_VERSION=v1.8.0
VGW_BIN="$CACHE_DIR/bin/versitygw-$VGW_VERSION"
SDIR="$RUN_DIR/s3"
PIDFILE="$SDIR/versitygw.pid"
STATE="$RUN_DIR/s3.env"
START_TIMEOUT="${TIDEMARK_S3_START_TIMEOUT:-60}"
# Fixed test credentials: the server listens on loopback only.
ACCESS_KEY=tidemark
SECRET_KEY=tidemark-secret-key
BUCKET=tidemark-test
REGION=us-east-1

grep -qF "github.com/versity/versitygw $VGW_VERSION" "$REPO_ROOT/tools.mod" ||
	die "$REPO_ROOT/tools.mod does not pin versitygw $VGW_VERSION (update VGW_VERSION in $0 too)"

do_install() {
	[[ -x "$VGW_BIN" ]] && return 0
	command -v go >/dev/null || die "go not found"
	log "building versitygw $VGW_VERSION into $VGW_BIN"
	mkdir -p "$CACHE_DIR/bin"
	local tmp="$VGW_BIN.tmp.$$"
	(cd "$REPO_ROOT" && GOWORK=off go build -modfile=tools.mod -o "$tmp" \
		github.com/versity/versitygw/cmd/versitygw) ||
		{
			rm -f "$tmp"
			die "go build of versitygw failed"
		}
	mv "$tmp" "$VGW_BIN"
	log "built $VGW_BIN"
}

install() { with_lock "$CACHE_DIR/.versitygw.lock" do_install; }

running() { pid_alive "$PIDFILE" "$SDIR/data"; }

# s3_curl METHOD URL: a SigV4-signed request with an empty body; prints the
# HTTP status code.
s3_curl() {
	local empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	curl -sS -o "$SDIR/curl.out" -w '%{http_code}' --max-time 5 \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
		-H "x-amz-content-sha256: $empty" -X "$1" "$2" 2>>"$SDIR/curl.err" || echo 000
}

# launch PORT: serve $SDIR/data on PORT, wait until the bucket exists (it is
# created if missing) and answers, write $STATE. Fails with the log's tail if
# the server exits or times out.
launch() {
	local port="$1" pid deadline code="" endpoint="http://127.0.0.1:$1"
	local -a quiet=(--quiet)
	[[ -n "${TIDEMARK_S3_VERBOSE:-}" ]] && quiet=()
	# ROOT_* and VGW_* variables from the caller's environment would change
	# the server's behaviour: clear them.
	local -a unset=(-u ROOT_ACCESS_KEY_ID -u ROOT_ACCESS_KEY -u ROOT_SECRET_ACCESS_KEY -u ROOT_SECRET_KEY)
	local v
	for v in $(compgen -e); do
		if [[ "$v" == VGW_* ]]; then unset+=(-u "$v"); fi
	done
	echo "$port" >"$SDIR/port"
	setsid env "${unset[@]}" \
		"$VGW_BIN" --port "127.0.0.1:$port" --access "$ACCESS_KEY" \
		--secret "$SECRET_KEY" --region "$REGION" "${quiet[@]}" \
		posix "$SDIR/data" </dev/null >>"$SDIR/versitygw.log" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDFILE"

	deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail_log "$SDIR/versitygw.log"
			rm -f "$PIDFILE"
			die "versitygw exited during start-up (logs in $SDIR)"
		fi
		if port_open "$port"; then
			# CreateBucket: 200 created, 409 BucketAlreadyOwnedByYou.
			code="$(s3_curl PUT "$endpoint/$BUCKET")"
			[[ "$code" == 200 || "$code" == 409 ]] && break
		fi
		if ((SECONDS >= deadline)); then
			tail_log "$SDIR/versitygw.log" "$SDIR/curl.out" "$SDIR/curl.err"
			stop_server
			die "versitygw not ready within ${START_TIMEOUT}s (last CreateBucket status ${code:-none}; logs in $SDIR)"
		fi
		sleep 0.2
	done
	code="$(s3_curl HEAD "$endpoint/$BUCKET")"
	if [[ "$code" != 200 ]]; then
		tail_log "$SDIR/versitygw.log" "$SDIR/curl.err"
		stop_server
		die "bucket $BUCKET not usable after creation (HeadBucket status $code)"
	fi
	cat >"$STATE" <<ENV
TIDEMARK_S3_ENDPOINT=$endpoint
TIDEMARK_S3_REGION=$REGION
TIDEMARK_S3_ACCESS_KEY=$ACCESS_KEY
TIDEMARK_S3_SECRET_KEY=$SECRET_KEY
TIDEMARK_S3_BUCKET=$BUCKET
ENV
	log "versitygw ready at $endpoint, bucket $BUCKET (pid $pid)"
}

start() {
	if running && [[ -s "$STATE" ]]; then
		log "already running: $(grep ENDPOINT "$STATE")"
		return 0
	fi
	stop_server
	install
	command -v curl >/dev/null || die "curl not found (needed to create the bucket)"

	local port
	rm -rf "$SDIR" "$STATE"
	mkdir -p "$SDIR/data"
	port="$(free_port)"
	log "starting versitygw $VGW_VERSION on 127.0.0.1:$port"
	launch "$port"
}

restart() {
	local port
	[[ -d "$SDIR/data" && -s "$SDIR/port" ]] ||
		die "no server to restart in $SDIR (start one with: s3.sh start)"
	port="$(cat "$SDIR/port")"
	[[ "$port" =~ ^[0-9]+$ ]] || die "bad port \"$port\" in $SDIR/port"
	stop_server
	wait_port_free "$port" 10 || die "port $port is still in use after versitygw stopped"
	install
	command -v curl >/dev/null || die "curl not found (needed to check the bucket)"
	log "restarting versitygw $VGW_VERSION on 127.0.0.1:$port, data kept"
	launch "$port"
}

stop_server() { stop_pid "$PIDFILE" "$SDIR/data" versitygw 10; }

stop() {
	stop_server
	rm -f "$STATE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
status) running ;;
restart) restart ;;
kill) kill_pid "$PIDFILE" "$SDIR/data" versitygw ;;
*)
	echo "usage: $0 {install|start|stop|status|restart|kill}" >&2
	exit 2
	;;
esac
