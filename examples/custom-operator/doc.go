// Command custom-operator is the processor with two operators of its own,
// registered by name through package plugin and used from YAML like the
// built-ins: running_max (stateful: the largest value per key so far, in
// keyed state that checkpoints restore) and redact (stateless: masks
// fields of the value). Everything else (run, validate, docs operators,
// tail, …) is the processor's command line, package cli:
//
//	go run ./examples/custom-operator validate --config examples/custom-operator/config.yaml
//	go run ./examples/custom-operator docs operators
//
// It is a main package of Tidemark's module, so `go build ./...`, `go vet
// ./...`, staticcheck and `go test ./...` at the repository root cover it
// with the rest; a program of its own would import the same packages
// (cli, plugin, operators, operators/state, expression) from its own
// module. See the README's "Custom operators in Go".
package main
