#!/usr/bin/env bash
# kafka.sh {install|start|stop|status}: a single-node Apache Kafka (KRaft,
# combined broker+controller) on 127.0.0.1, for integration tests.
#
#   install  copy the broker's jars from Maven Central into
#            $TIDEMARK_CACHE/kafka-<version>/libs (once; see kafka/pom.xml)
#   start    install if needed, format a fresh data dir, start the broker on a
#            free loopback port, wait until it serves, write $RUN_DIR/kafka.env
#   stop     SIGTERM, then SIGKILL after 30 s; idempotent
#   status   exit 0 if the broker started here is running
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

start() {
	if running && [[ -s "$STATE" ]]; then
		log "already running: $(cat "$STATE")"
		return 0
	fi
	stop_broker
	install

	local port cport cluster_id pid deadline
	rm -rf "$KDIR" "$STATE"
	mkdir -p "$KDIR/data"
	port="$(free_port)"
	cport="$(free_port)"
	while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done

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

	local -a heap
	read -ra heap <<<"$HEAP"
	local -a jvm=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$KDIR/log4j2.xml"
		"-Dkafka.logs.dir=$KDIR"
		-cp "$KAFKA_HOME/libs/*")

	# What `kafka-storage random-uuid` prints: 16 random bytes, URL-safe
	# base64 without padding, not starting with '-'.
	cluster_id=-
	while [[ "$cluster_id" == -* ]]; do
		cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
	done
	# Kafka 4.x: a KRaft controller must be formatted; --standalone makes this
	# node a single-voter dynamic quorum (needs controller.quorum.bootstrap.servers).
	# shellcheck disable=SC2086 # FORMAT_ARGS is a list of flags
	if ! "${jvm[@]}" kafka.tools.StorageTool format --standalone \
		--cluster-id "$cluster_id" --config "$KDIR/server.properties" $FORMAT_ARGS \
		>>"$KDIR/format.log" 2>&1; then
		tail_log "$KDIR/format.log"
		die "kafka-storage format failed"
	fi

	log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport)"
	setsid "${jvm[@]}" kafka.Kafka "$KDIR/server.properties" \
		</dev/null >"$KDIR/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDFILE"

	deadline=$((SECONDS + START_TIMEOUT))
	until port_open "$port" && grep -q 'Kafka Server started' "$KDIR/server.log" 2>/dev/null; do
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

stop_broker() { stop_pid "$PIDFILE" "$KDIR/server.properties" kafka 30; }

stop() {
	stop_broker
	rm -f "$STATE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
status) running ;;
*)
	echo "usage: $0 {install|start|stop|status}" >&2
	exit 2
	;;
esac
