package dedup

import "github.com/tidemark/tidemark/plugin"

// Register registers the operator type of package dedup in env.
func Register(env *plugin.Environment) error { return nil }
