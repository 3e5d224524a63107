package plugin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Resources is what the runtime gives an operator's constructor, once per
// task that runs the operator.
type Resources struct {
	// Name is the operator's name: unique in the job, the id of its state
	// and what logs, metrics and dead letters call it.
	Name string
	// Task is the index of the task among Parallelism tasks of the
	// operator's stage.
	Task, Parallelism int
	// Log is the operator's logger, named after it.
	Log *zap.Logger
	// Now is the processing-time clock.
	Now func() time.Time
	// State is the task's keyed state backend: nil in a stage without
	// keyed operators; also given to Open (operators.OpenContext).
	State *state.Backend
	// Metrics registers the operator's own metrics: the job's registry
	// (what /metrics serves), nil when none is kept. Every task of every
	// attempt gets the same one, so register a metric once and label its
	// series by operator (see operators/opmetrics).
	Metrics prometheus.Registerer
}

// OperatorConstructor makes one instance of an operator from its parsed
// configuration, for one task: it is called once per task that runs the
// operator (each instance runs on its task's goroutine). Do the work
// that can fail for a reason the configuration shows at Parse time (in
// the spec's Check), not here: by now the job is starting.
type OperatorConstructor func(conf *ParsedConfig, res *Resources) (operators.Operator, error)
