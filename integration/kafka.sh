#!/usr/bin/env bash
# kafka.sh {install|start|stop|status|restart|kill}: a single-node Apache Kafka
# (KRaft, combined broker+controller) on 127.0.0.1, for integration tests.
#
#   install  copy the broker's jars from Maven Central into
#            $TIDEMARK_CACHE/kafka-<version>/libs (once; see kafka/pom.xml)
#   start    install if needed, format a fresh data dir, start the broker on a
#            free loopback port, wait until it serves, write $RUN_DIR/kafka.env
#   stop     SIGTERM, then SIGKILL after $TIDEMARK_KAFKA_STOP_TIMEOUT s; idempotent
#   status   exit 0 if the broker started here is running
#   restart  stop the broker as `stop` does (if it runs), then start it again on
#            the same ports with the same data dir and configuration (no
#            format: topics, records, offsets and transactions are kept), wait
#            until it serves; works after `kill` and `stop` too
#   kill     SIGKILL the broker (a crash) and leave it down, its data and
#            $RUN_DIR/kafka.env in place, until `restart`
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION=4.1.1
POM="$INTEGRATION_DIR/kafka/pom.xml"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KDIR="$RUN_DIR/kafka"
PIDFILE="$KDIR/kafka.pid"
STATE="$RUN_DIR/kafka.env"
START_TIMEOUT="${TIDEMARK_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${TIDEMARK_KAFKA_STOP_TIMEOUT:-30}"
HEAP="${TIDEMARK_KAFKA_HEAP:--Xms256m -Xmx512m}"
# Extra flags for `kafka-storage format`, e.g. "--feature transaction.version=1"
# to test against a broker without transactions v2 (4.1 formats with TV2).
FORMAT_ARGS="${TIDEMARK_KAFKA_FORMAT_ARGS:-}"

grep -qF "<kafka.version>$KAFKA_VERSION</kafka.version>" "$POM" ||
	die "$POM does not pin Kafka $KAFKA_VERSION (update KAFKA_VERSION in $0 too)"

do_install() {
	local stamp want tmp out
	want="$(sha256_of "$POM")"
	stamp="$KAFKA_HOME/.installed"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found (Maven is needed to install Kafka)"
	command -v java >/dev/null || die "java not found (Java 17+ is needed to run Kafka)"
	log "installing Apache Kafka $KAFKA_VERSION into $KAFKA_HOME"
	mkdir -p "$CACHE_DIR"
	tmp="$(mktemp -d "$CACHE_DIR/.kafka-install.XXXXXX")"
	if ! out="$(cd "$INTEGRATION_DIR/kafka" && mvn -B -q -Dstyle.color=never \
		dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp/libs" 2>&1)"; then
		printf '%s\n' "$out" >&2
		rm -rf "$tmp"
		die "mvn dependency:copy-dependencies failed"
	fi
	ls "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "kafka jar missing after install"
	echo "$want" >"$tmp/.installed"
	rm -rf "$KAFKA_HOME"
	mv "$tmp" "$KAFKA_HOME"
	log "installed Apache Kafka $KAFKA_VERSION ($(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars)"
}

install() { with_lock "$CACHE_DIR/.kafka.lock" do_install; }

running() { pid_alive "$PIDFILE" "$KDIR/server.properties"; }

# write_config PORT CONTROLLER_PORT: server.properties and log4j2.xml in $KDIR.
write_config() {
	local port="$1" cport="$2"
	cat >"$KDIR/server.properties" <<PROPS
# Written by integration/kafka.sh. Single node, KRaft, loopback only.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$KDIR/data
# Tests create their topics explicitly (kadm); a misspelt topic is an error.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
PROPS

	cat >"$KDIR/log4j2.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <File name="server" fileName="$KDIR/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
  </Loggers>
</Configuration>
XML
}

# jvm_cmd: set JVM to the java command line (without the main class).
jvm_cmd() {
	local -a heap
	read -ra heap <<<"$HEAP"
	JVM=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$KDIR/log4j2.xml"
		"-Dkafka.logs.dir=$KDIR"
		-cp "$KAFKA_HOME/libs/*")
}

# listener_port NAME: the port of listener NAME in server.properties.
listener_port() {
	local line
	line="$(grep -E '^listeners=' "$KDIR/server.properties")" || return 1
	[[ "$line" =~ $1://127\.0\.0\.1:([0-9]+) ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# launch PORT: start the broker configured in $KDIR, wait until it serves on
# PORT, write $STATE. Fails with the logs' tails if it exits or times out.
launch() {
	local port="$1" pid deadline mark=0
	# server.log is appended to across restarts: look for the start-up line
	# only in what this start writes.
	[[ -f "$KDIR/server.log" ]] && mark="$(stat -c %s "$KDIR/server.log")"
	jvm_cmd
	setsid "${JVM[@]}" kafka.Kafka "$KDIR/server.properties" \
		</dev/null >>"$KDIR/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDFILE"

	deadline=$((SECONDS + START_TIMEOUT))
	until port_open "$port" && started_since "$mark"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail_log "$KDIR/stdout.log" "$KDIR/server.log"
			rm -f "$PIDFILE"
			die "Kafka exited during start-up (logs in $KDIR)"
		fi
		if ((SECONDS >= deadline)); then
			tail_log "$KDIR/stdout.log" "$KDIR/server.log"
			stop_broker
			die "Kafka did not start within ${START_TIMEOUT}s (logs in $KDIR)"
		fi
		sleep 0.2
	done
	echo "TIDEMARK_KAFKA_BROKERS=127.0.0.1:$port" >"$STATE"
	log "Kafka ready at 127.0.0.1:$port (pid $pid)"
}

# started_since BYTES: server.log says the broker started after offset BYTES.
started_since() {
	[[ -f "$KDIR/server.log" ]] || return 1
	grep -q 'Kafka Server started' < <(tail -c "+$(($1 + 1))" "$KDIR/server.log")
}

start() {
	if running && [[ -s "$STATE" ]]; then
		log "already running: $(cat "$STATE")"
		return 0
	fi
	stop_broker
	install

	local port cport cluster_id
	rm -rf "$KDIR" "$STATE"
	mkdir -p "$KDIR/data"
	port="$(free_port)"
	cport="$(free_port)"
	while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
	write_config "$port" "$cport"

	# What `kafka-storage random-uuid` prints: 16 random bytes, URL-safe
	# base64 without padding, not starting with '-'.
	cluster_id=-
	while [[ "$cluster_id" == -* ]]; do
		cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
	done
	# Kafka 4.x: a KRaft controller must be formatted; --standalone makes this
	# node a single-voter dynamic quorum (needs controller.quorum.bootstrap.servers).
	jvm_cmd
	# shellcheck disable=SC2086 # FORMAT_ARGS is a list of flags
	if ! "${JVM[@]}" kafka.tools.StorageTool format --standalone \
		--cluster-id "$cluster_id" --config "$KDIR/server.properties" $FORMAT_ARGS \
		>>"$KDIR/format.log" 2>&1; then
		tail_log "$KDIR/format.log"
		die "kafka-storage format failed"
	fi

	log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport)"
	launch "$port"
}

restart() {
	local port cport
	[[ -s "$KDIR/server.properties" && -s "$KDIR/data/meta.properties" ]] ||
		die "no broker to restart in $KDIR (start one with: kafka.sh start)"
	if ! port="$(listener_port PLAINTEXT)" || ! cport="$(listener_port CONTROLLER)"; then
		die "cannot read the listener ports from $KDIR/server.properties"
	fi
	stop_broker
	# The ports are this broker's: wait for its sockets to close, and refuse
	# to start if something else took them meanwhile.
	wait_port_free "$port" 10 || die "port $port is still in use after the broker stopped"
	wait_port_free "$cport" 10 || die "controller port $cport is still in use after the broker stopped"
	install
	log "restarting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport), data kept"
	launch "$port"
}

stop_broker() { stop_pid "$PIDFILE" "$KDIR/server.properties" kafka "$STOP_TIMEOUT"; }

stop() {
	stop_broker
	rm -f "$STATE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
status) running ;;
restart) restart ;;
kill) kill_pid "$PIDFILE" "$KDIR/server.properties" kafka ;;
*)
	echo "usage: $0 {install|start|stop|status|restart|kill}" >&2
	exit 2
	;;
esac
