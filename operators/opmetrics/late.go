package opmetrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// LateRecordsName is the name of the late-records counter.
const LateRecordsName = "tidemark_late_records_total"

func newLateVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: LateRecordsName,
		Help: "Records an event-time operator received after the watermark had passed them: dropped, or sent to its late side output.",
	}, []string{"operator"})
}

// LateRecords returns the late-records counter of operator in reg,
// registering the shared counter vector on first use. With reg nil it
// returns a counter that is not exported.
func LateRecords(reg prometheus.Registerer, operator string) (prometheus.Counter, error) {
	vec := newLateVec()
	if reg != nil {
		if err := reg.Register(vec); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("register %s: %w", LateRecordsName, err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register %s: another collector of type %T holds the name", LateRecordsName, are.ExistingCollector)
			}
			vec = existing
		}
	}
	return vec.WithLabelValues(operator), nil
}
