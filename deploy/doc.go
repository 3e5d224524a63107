// Package deploy holds the files that run the processor as a container:
// docker-compose.yaml starts Apache Kafka, MinIO and the processor built from
// the repository's Dockerfile with configs/production.yaml (see
// docs/deployment.md). It has no Go code; its tests check that the compose
// file parses and agrees with the Dockerfile and the production configuration,
// because no Docker engine runs on the development and CI machines.
package deploy
