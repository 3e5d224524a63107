// Package config defines Tidemark's YAML configuration: typed sections with
// defaults, strict decoding that names unknown keys and their lines, ${VAR}
// substitution from the environment, and a Validate that reports every
// problem at once.
package config
