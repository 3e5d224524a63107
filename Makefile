# Tidemark. `make test` is the README's (and CI's) test command.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Unit tests: every package but the integration tests, which need services.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/integration')
GOTEST_FLAGS ?= -race -count=1 -p 2 -timeout 15m

.PHONY: test lint unit integration chaos chaos-quickstart checkpoint-growth state-growth build image container-tools run clean
test: lint build unit integration

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test $(GOTEST_FLAGS) $(UNIT_PKGS)

# Starts the real Kafka broker and S3 server (installing them on first use),
# runs the integration tests against them, and stops them whatever happens.
# integration/chromium.sh installs Debian's chromium (the dashboard's browser
# test) when missing; files tests leave (the dashboard's screenshot) go to
# TIDEMARK_TEST_OUTPUT.
TIDEMARK_TEST_OUTPUT ?= $(CURDIR)/integration/.run/test-output
integration: container-tools
	bash integration/chromium.sh
	trap 'bash integration/services.sh stop' EXIT; \
	bash integration/services.sh start; \
	eval "$$(bash integration/services.sh env)"; \
	export TIDEMARK_TEST_OUTPUT="$(TIDEMARK_TEST_OUTPUT)"; \
	$(GO) test $(GOTEST_FLAGS) -v ./integration/...

# Benchmarks (docs/benchmarks.md), one after the other, never in parallel.
.PHONY: bench bench-checkpoint bench-pipeline bench-nexmark bench-peers
bench:
	$(MAKE) bench-checkpoint
	$(MAKE) bench-pipeline

# Checkpoint benchmark (docs/benchmarks.md): starts the S3 server in a run
# directory of its own (so it never stops services started elsewhere), runs
# cmd/ckptbench against file:// and s3://, and stops the server whatever
# happens. Shorter: make bench BENCH_FLAGS='-sizes 10MB,100MB -checkpoints 10'.
BENCH_FLAGS ?=
bench-checkpoint:
	export TIDEMARK_RUN_DIR="$(CURDIR)/integration/.run/bench"; \
	trap 'bash integration/services.sh stop s3' EXIT; \
	bash integration/services.sh start s3; \
	eval "$$(bash integration/services.sh env s3)"; \
	$(GO) run ./cmd/ckptbench $(BENCH_FLAGS)

# Pipeline benchmark (docs/benchmarks.md): starts a Kafka broker in a run
# directory of its own, runs cmd/pipebench against it (a raw franz-go pipe
# and Tidemark, throughput and latency), and stops the broker whatever
# happens. Shorter: make bench-pipeline PIPEBENCH_FLAGS='-records 2000000 -rounds 1'.
PIPEBENCH_FLAGS ?=
bench-pipeline:
	export TIDEMARK_RUN_DIR="$(CURDIR)/integration/.run/bench-pipeline"; \
	trap 'bash integration/services.sh stop kafka' EXIT; \
	bash integration/services.sh start kafka; \
	eval "$$(bash integration/services.sh env kafka)"; \
	$(GO) run ./cmd/pipebench $(PIPEBENCH_FLAGS)

# Peers benchmark (docs/benchmarks.md, "Peers: Flink and Kafka Streams"):
# compiles the Maven project bench/peers (Apache Flink and Kafka Streams;
# offline from ~/.m2 when it can, online the first time), builds the
# processor (make build), starts a Kafka broker in a run directory of its
# own, runs cmd/peerbench against it (a raw franz-go pipe, Tidemark, Flink
# and Kafka Streams, each as its own process; charts into docs/img), and
# stops the broker whatever happens. Shorter: make bench-peers
# PEERBENCH_FLAGS='-records 200000 -rounds 1 -recovery-state 64MiB'.
MVN ?= mvn
PEERS_RUN_DIR = $(CURDIR)/integration/.run/bench-peers
PEERBENCH_FLAGS ?= -markdown -charts docs/img
bench-peers: build
	$(MVN) -q -o -f bench/peers/pom.xml compile || $(MVN) -q -f bench/peers/pom.xml compile
	mkdir -p "$(PEERS_RUN_DIR)/work"
	$(GO) build -o "$(PEERS_RUN_DIR)/peerbench" ./cmd/peerbench
	export TIDEMARK_RUN_DIR="$(PEERS_RUN_DIR)"; \
	trap 'bash integration/services.sh stop kafka' EXIT; \
	bash integration/services.sh start kafka; \
	eval "$$(bash integration/services.sh env kafka)"; \
	"$(PEERS_RUN_DIR)/peerbench" -processor bin/processor -peers bench/peers -dir "$(PEERS_RUN_DIR)/work" $(PEERBENCH_FLAGS)

# Nexmark benchmark (docs/benchmarks.md): starts a Kafka broker in a run
# directory of its own, runs cmd/nexmarkbench against it (every query of
# configs/nexmark with stop_at: end, output checked against
# nexmark/reference, beside a raw franz-go pipe of the same input, and the
# operators' allocation benchmarks), and stops the broker whatever happens.
# Shorter: make bench-nexmark NEXMARKBENCH_FLAGS='-events 200000 -queries q0,q5'.
NEXMARKBENCH_FLAGS ?= -markdown
bench-nexmark:
	export TIDEMARK_RUN_DIR="$(CURDIR)/integration/.run/bench-nexmark"; \
	trap 'bash integration/services.sh stop kafka' EXIT; \
	bash integration/services.sh start kafka; \
	eval "$$(bash integration/services.sh env kafka)"; \
	$(GO) run ./cmd/nexmarkbench $(NEXMARKBENCH_FLAGS)

# The exactly-once chaos tests, long: 50 SIGKILLs (CI runs 5 within `test`),
# then the randomized schedule test with SCHEDULE_STEPS steps (CI runs 20);
# TIDEMARK_SCHEDULE_SEED=N in the environment replays a schedule.
SCHEDULE_STEPS ?= 200
chaos:
	trap 'bash integration/services.sh stop' EXIT; \
	bash integration/services.sh start; \
	eval "$$(bash integration/services.sh env)"; \
	rc=0; \
	TIDEMARK_CHAOS_KILLS=50 $(GO) test -count=1 -timeout 30m -v -run Chaos ./integration/ || rc=1; \
	TIDEMARK_SCHEDULE_STEPS=$(SCHEDULE_STEPS) $(GO) test -count=1 -timeout 120m -v -run TestScheduleExactlyOnce ./integration/ || rc=1; \
	exit $$rc

# The quickstart's SIGKILL test, long: 25 kills of the quickstart binary
# with its embedded broker (CI runs 3 within `test`); nothing else needed.
chaos-quickstart:
	TIDEMARK_QUICKSTART_KILLS=25 $(GO) test -count=1 -timeout 30m -v -run TestQuickstartSIGKILL ./cli

# Per-checkpoint upload over a long run (docs/checkpoints.md): 10,000
# checkpoints that each change a little state must upload about as much at
# the end as at the start (`make unit` runs 1,000).
checkpoint-growth:
	TIDEMARK_CHECKPOINTS=10000 $(GO) test -count=1 -timeout 60m -v -run TestUploadPerCheckpointStaysFlat ./internal/job/

# Checkpointed state against live state over 10 minutes (docs/checkpoints.md):
# a keyed count of 10,000 keys, every key counted between two checkpoints,
# 1 s interval, 600 checkpoints; each must reference at most 3 times the live
# state (`make unit` runs 10 checkpoints at 5 ms).
state-growth:
	TIDEMARK_STATE_CHECKPOINTS=600 TIDEMARK_STATE_INTERVAL=1s $(GO) test -count=1 -timeout 45m -v -run TestCheckpointedStateStaysProportional ./internal/job/

# The static binary; the image (Dockerfile) holds exactly this file.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/processor ./cmd/processor

# The container image (Dockerfile, docs/deployment.md): FROM scratch with
# bin/processor and the files deploy/container.sh writes, built with podman
# (`bash deploy/container.sh install` installs it; CI's integration target
# does, and TestContainerImage builds and runs the image).
IMAGE ?= tidemark:dev
image: build
	bash deploy/container.sh image $(IMAGE)

# podman and runc (apt-get when missing, as root) and CONTAINERS_CONF, for
# the container test; fails, never skips, if podman cannot be set up.
container-tools:
	bash deploy/container.sh install

run:
	$(GO) run ./cmd/processor run --config configs/quickstart.yaml

clean:
	rm -rf bin
