package builtin

import "github.com/tidemark/tidemark/operators"

// Passthrough forwards every record unchanged.
type Passthrough struct{ operators.Base }
