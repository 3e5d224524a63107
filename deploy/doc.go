// Package deploy holds the files that run the processor as a container:
// container.sh (podman set-up, the image's extra files, `make image`) and
// kubernetes/tidemark.yaml (a StatefulSet of one processor with its
// ConfigMap and Service); see docs/deployment.md. It has no Go code. Its
// tests check the Dockerfile's contract and validate the Kubernetes manifest
// against the Kubernetes OpenAPI schemas vendored in testdata/kubernetes;
// integration/container_test.go builds and runs the image.
package deploy
