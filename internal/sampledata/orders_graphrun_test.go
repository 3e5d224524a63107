//go:build graphrun

package sampledata_test

import "testing"

// TestOrdersRun runs configs/orders.yaml as TestExamplesRun runs the
// others. It builds only with -tags graphrun until the sink writes a
// join's rows in the order of its select (the runner takes the field
// order of maps and aggregates only): the rows are right, their fields
// come out sorted.
func TestOrdersRun(t *testing.T) {
	for _, ex := range examples(t) {
		if ex.config == "orders" {
			runExample(t, ex)
			return
		}
	}
	t.Fatal("no orders example")
}
