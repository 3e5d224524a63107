package rank

import "github.com/tidemark/tidemark/plugin"

// Register registers the operator type of package rank in env.
func Register(env *plugin.Environment) error { return nil }
