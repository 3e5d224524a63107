// Package prometheus holds Tidemark's Prometheus alerting rules
// (alerts.yaml); its tests evaluate them against metrics scraped from the
// processor's own metrics registry (see internal/alerteval).
package prometheus
