// Package config defines Tidemark's YAML configuration: typed sections with
// defaults, strict decoding that names unknown keys and their lines, ${VAR}
// substitution from the environment, and a Validate that reports every
// problem at once.
//
// A job is written in one of two forms: the job graph (sources, operators,
// sinks, output, dead_letter; graph.go), whose operator entries are kept
// as YAML and parsed with their types' specs (ParseOperators, package
// plugin), or the single chain of before (source, pipeline, sink;
// legacy.go), which keeps loading unchanged and which Migrate rewrites into
// the graph form. Package internal/plan plans either.
package config
