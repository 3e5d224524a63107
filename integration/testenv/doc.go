// Package testenv gives integration tests the real services they run
// against: a single-node Apache Kafka broker (KRaft) and an S3-compatible
// server (versitygw), both on loopback.
//
// A package that uses it calls [Main] from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// Tests then ask for a service with [Kafka] or [S3]. If the TIDEMARK_*
// variables of a service are set (see integration/README.md and
// `integration/services.sh env`), the running service is reused. Otherwise the
// first test that asks starts it with integration/services.sh, in a private
// run directory, and [Main] stops it when the tests are done (a watcher stops
// it too if the test binary dies). A service that cannot be had fails the
// test that asked for it, with the reason; it never skips.
//
// Helpers give each test its own resources on the shared services: a uniquely
// named topic ([KafkaEnv.CreateTopic]) and a unique key prefix in the test
// bucket ([S3Env.Prefix]).
//
// Chaos tests take a service down and bring it back with its data on the same
// address: [RestartKafka] and [RestartS3] (SIGTERM, then SIGKILL if it takes
// too long, then start again), [KillKafka] and [KillS3] (SIGKILL, down until
// the next restart). They work on services the harness started and on
// services from the TIDEMARK_* variables, whose run dir TIDEMARK_RUN_DIR
// names (or integration/.run).
package testenv
