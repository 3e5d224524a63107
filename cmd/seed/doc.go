// Command seed writes the sample input of an example pipeline of configs/
// into its source topics, so that the example has something to read:
//
//	go run ./cmd/seed --config configs/orders.yaml
//	go run ./cmd/processor run --config configs/orders.yaml
//
// Each source topic t gets the records of <data>/t.txt (default data dir:
// the data directory beside the configuration), one KEY<TAB>VALUE line
// each (package sampledata). With kafka.embedded it writes to the
// processor's embedded broker: the running one, or, when no processor
// runs, a broker it starts for the write on the data in state.dir (the
// processor finds the records there when it starts); it creates the
// job's topics first. Otherwise it writes to kafka.brokers, whose topics
// must exist. A topic that already holds records is left alone unless
// --force is given: loading twice would double the sample.
package main
