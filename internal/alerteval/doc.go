// Package alerteval evaluates Prometheus alerting rules against metrics
// scraped from a processor, so that tests can check deploy/prometheus's
// rules without a Prometheus server: it keeps the samples of successive
// scrapes (History.Scrape, text format parsed with prometheus/common's
// expfmt) and evaluates the subset of PromQL the rules use — selectors
// with label matchers and ranges, increase, rate, delta, deriv, sum/max/min
// (by), arithmetic, comparisons (filtering) and and/or/unless — at a
// point in time, with a rule's "for" taken as "at every scrape in the
// last for". increase and rate do not extrapolate to the window's edges
// as Prometheus does. An expression outside the subset is an error.
package alerteval
