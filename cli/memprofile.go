package cli

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// memProfileEvery is how often a --memprofile run samples the live heap.
const memProfileEvery = 100 * time.Millisecond

// startMemProfile samples the live heap (runtime/metrics'
// /gc/heap/live:bytes, the heap the last collection found reachable) every
// memProfileEvery and keeps a heap profile taken whenever it passed its
// largest value so far by more than 5 %, so that the profile shows the
// allocations live at the peak (go tool pprof -sample_index=inuse_space).
// The function it returns stops the sampling and writes the kept profile
// (one taken then if none was) to path; the file is created at once, so a
// path that cannot be written fails before the job starts.
func startMemProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--memprofile: %w", err)
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var (
		mu   sync.Mutex
		kept []byte
		peak uint64
	)
	take := func() {
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		mu.Lock()
		defer mu.Unlock()
		if kept != nil && live <= peak+peak/20 {
			return
		}
		var b bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&b, 0); err == nil {
			kept, peak = b.Bytes(), live
		}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(memProfileEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() error {
		close(done)
		<-exited
		if kept == nil {
			runtime.GC()
			take()
		}
		_, werr := f.Write(kept)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("--memprofile %s: %w", path, werr)
		}
		return nil
	}, nil
}
