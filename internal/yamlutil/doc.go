// Package yamlutil holds what the configuration parsers (internal/config
// and the plugin package's operator specs) share about YAML nodes: how a
// node is named in a message, the wording of the common problems, and the
// did-you-mean suggestion for an unknown key or value.
package yamlutil
