package state_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tidemark/tidemark/operators/state"
)

// BenchmarkCheckpoint measures the synchronous part of a snapshot of about
// 1 MB and 100 MB of state, after 1 MB of fresh writes per checkpoint (so
// the state grows by 1 MB per iteration). Besides ns/op
// (the whole Checkpoint call) it reports the memtable flush and the Pebble
// checkpoint (links, MANIFEST and OPTIONS copies, fsyncs) separately:
//
//	go test -run '^$' -bench Checkpoint -benchtime 20x ./operators/state/
func BenchmarkCheckpoint(b *testing.B) {
	for _, mb := range []int{1, 100} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) { benchmarkCheckpoint(b, mb<<20) })
	}
}

func benchmarkCheckpoint(b *testing.B, total int) {
	const (
		valueSize = 256
		fresh     = 1 << 20
	)
	core, logs := observer.New(zapcore.DebugLevel)
	root := b.TempDir()
	be, err := state.Open(filepath.Join(root, "live"), state.Options{Logger: zap.New(core)})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	v := state.NewValue(be, "op", "v", state.Bytes{})
	rng := rand.New(rand.NewPCG(1, 1))
	val := make([]byte, valueSize)
	key := 0
	write := func(n int) {
		for range n / valueSize {
			for i := 0; i < len(val); i += 8 {
				binary.LittleEndian.PutUint64(val[i:], rng.Uint64()) // incompressible
			}
			if err := v.Put([]byte(fmt.Sprintf("key-%09d", key)), val); err != nil {
				b.Fatal(err)
			}
			key++
		}
	}
	write(total)
	if _, err := be.Checkpoint(filepath.Join(root, "chk-0")); err != nil {
		b.Fatal(err)
	}
	m := be.Metrics()
	b.Logf("state: %d SSTs, %.1f MB", m.SSTFiles, float64(m.SSTBytes)/(1<<20))

	var flush, link time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		write(fresh)
		dir := filepath.Join(root, fmt.Sprint("chk-", i+1))
		logs.TakeAll()
		b.StartTimer()
		if _, err := be.Checkpoint(dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, e := range logs.FilterMessage("state checkpoint").TakeAll() {
			for _, f := range e.Context {
				switch f.Key {
				case "flush":
					flush += time.Duration(f.Integer)
				case "checkpoint":
					link += time.Duration(f.Integer)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(flush.Microseconds())/float64(b.N)/1000, "flush-ms/op")
	b.ReportMetric(float64(link.Microseconds())/float64(b.N)/1000, "checkpoint-ms/op")
	b.ReportMetric(float64(be.Size())/(1<<20), "state-MB")
}
