// Package promtest reads metric values out of a Prometheus registry in
// tests: the sum of a metric's series, one labelled series, a histogram's
// sample count. Each helper fails the test when the metric is missing.
package promtest
