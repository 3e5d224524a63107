// Package opmetrics holds the Prometheus metrics that several operator
// packages share, so that each is registered once per registry with one
// name, help text and meaning, labelled by operator name.
package opmetrics
