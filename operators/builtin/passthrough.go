package builtin

import "github.com/tidemark/tidemark/operators"

// Passthrough forwards every record unchanged.
type Passthrough struct{ operators.Base }

// ForwardsUnchanged implements operators.Forwarder: the task hands the
// records on without running them through Process.
func (Passthrough) ForwardsUnchanged() {}
