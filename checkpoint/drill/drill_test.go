package drill_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/drill"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/ckptfixture"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stores runs f against the in-memory store and the file store.
func stores(t *testing.T, f func(t *testing.T, root storage.Store)) {
	t.Run("mem", func(t *testing.T) { f(t, storage.NewMem()) })
	t.Run("file", func(t *testing.T) {
		st, err := storage.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
}

// A healthy checkpoint passes: every file downloaded and checked, each
// task's state opened, its keys counted by operator (the graph's stateless
// operators listed with none), nothing left in the scratch directory.
func TestVerifyPasses(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 3, KeysPerCheckpoint: 50})
		st := checkpoint.JobStore(root, ckptfixture.Name)
		scratch := t.TempDir()
		var last drill.Progress
		r, err := drill.Verify(context.Background(), st, ms[2], drill.Options{ScratchDir: scratch, BytesPerSecond: 1 << 30,
			Progress: func(p drill.Progress) { last = p }, Log: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Passed || r.Reason != "" || len(r.Problems) != 0 || r.Checkpoint != "3" || r.Bytes != ms[2].StateSize() || r.Duration <= 0 {
			t.Fatalf("report: %+v", r)
		}
		if last.Files != last.FilesTotal || last.Bytes != last.BytesTotal || last.BytesTotal != r.Bytes {
			t.Errorf("last progress %+v, report %d bytes", last, r.Bytes)
		}
		var keys int64
		for _, task := range r.Tasks {
			if !task.Opened || task.OutOfRange != 0 || task.Malformed != 0 {
				t.Errorf("task %+v", task)
			}
			ops := map[string]int64{}
			for _, o := range task.Operators {
				ops[o.Operator] = o.Keys()
			}
			if _, ok := ops["sink"]; !ok || ops[ckptfixture.Operator] == 0 || ops[ckptfixture.Operator] != task.Keys {
				t.Errorf("task %d operators %+v", task.Task, task.Operators)
			}
			keys += task.Keys
		}
		if keys != 150 {
			t.Errorf("%d keys counted, want 150", keys)
		}
		if ents, _ := readDir(scratch); len(ents) != 0 {
			t.Errorf("the scratch directory keeps %v", ents)
		}
	})
}

// A corrupted file, a missing one and a key stored in the wrong task fail
// the drill, each named; every file is still checked.
func TestVerifyFails(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ctx := context.Background()
		ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 2})
		st := checkpoint.JobStore(root, ckptfixture.Name)
		m := ms[1]
		var sst checkpoint.FileHandle
		for _, f := range m.Tasks[0].Files {
			if strings.HasSuffix(f.Name, ".sst") {
				sst = f
			}
		}
		junk := bytes.Repeat([]byte{'x'}, int(sst.Size))
		if err := st.Put(ctx, sst.Key, bytes.NewReader(junk), sst.Size); err != nil {
			t.Fatal(err)
		}
		manifest := m.Tasks[1].Files[0]
		for _, f := range m.Tasks[1].Files {
			if strings.HasPrefix(f.Name, "MANIFEST") {
				manifest = f
			}
		}
		if err := st.Delete(ctx, manifest.Key); err != nil {
			t.Fatal(err)
		}
		r, err := drill.Verify(ctx, st, m, drill.Options{ScratchDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if r.Passed || len(r.Problems) != 2 || !strings.Contains(r.Reason, sst.Key) || !strings.Contains(r.Reason, "corrupted") ||
			!strings.Contains(r.Problems[1], manifest.Key) || !strings.Contains(r.Problems[1], "missing") {
			t.Errorf("report: passed %v, reason %q, problems %q", r.Passed, r.Reason, r.Problems)
		}
		if r.Files != len(m.Tasks[0].Files)+len(m.Tasks[1].Files) {
			t.Errorf("%d files checked, the checkpoint has %d", r.Files, len(m.Tasks[0].Files)+len(m.Tasks[1].Files))
		}

		// State restored into the wrong task: task 0's files as task 1's.
		wrong := *ms[0]
		wrong.Tasks = []checkpoint.TaskState{ms[0].Tasks[0]}
		wrong.Tasks[0].Task, wrong.Tasks[0].KeyGroups = 1, ms[0].Tasks[1].KeyGroups
		r, err = drill.Verify(ctx, st, &wrong, drill.Options{ScratchDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if r.Passed || !strings.Contains(r.Reason, "outside its key groups") {
			t.Errorf("state of the wrong key groups: passed %v, reason %q", r.Passed, r.Reason)
		}
	})
}

// A checkpoint deleted by retention while it was verified is not a
// failure: Verify says it expired.
func TestVerifyExpired(t *testing.T) {
	ctx := context.Background()
	root := storage.NewMem()
	ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 1})
	st := checkpoint.JobStore(root, ckptfixture.Name)
	for _, key := range []string{checkpoint.MetadataKey(1), ms[0].Tasks[1].Files[0].Key} {
		if err := st.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := drill.Verify(ctx, st, ms[0], drill.Options{ScratchDir: t.TempDir()}); !errors.Is(err, drill.ErrExpired) {
		t.Errorf("Verify of an expired checkpoint: %v, want ErrExpired", err)
	}
}

// The scheduler drills the checkpoint a restart would restore and exports
// the outcome: nothing before the first checkpoint, then passed, then
// failed once a file is corrupted; its loop drills on each tick.
func TestScheduler(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := storage.NewMem()
	st := checkpoint.JobStore(root, ckptfixture.Name)
	reg := prometheus.NewPedanticRegistry()
	ticks := make(chan time.Time)
	s, err := drill.NewScheduler(drill.SchedulerConfig{Store: st, Interval: time.Hour, ScratchDir: t.TempDir() + "/drill",
		Registerer: reg, Log: zaptest.NewLogger(t), After: func(time.Duration) <-chan time.Time { return ticks }})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.RunOnce(ctx); ok {
		t.Fatal("a drill ran with no checkpoint")
	}
	if _, ok := s.Last(); ok {
		t.Fatal("a status before any drill")
	}
	ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 2})
	st1, ok := s.RunOnce(ctx)
	if !ok || st1.Result != drill.ResultPassed || st1.Report.CheckpointID != 2 || st1.LastPassedAt != st1.At {
		t.Fatalf("first drill: %+v", st1)
	}
	expectMetric(t, reg, "tidemark_drill_last_success", 1)
	expectMetric(t, reg, "tidemark_drill_last_checkpoint_id", 2)
	expectMetric(t, reg, "tidemark_drill_last_keys", 80)

	f := ms[1].Tasks[0].Files[len(ms[1].Tasks[0].Files)-1]
	junk := bytes.Repeat([]byte{'x'}, int(f.Size)+1)
	if err := st.Put(ctx, f.Key, bytes.NewReader(junk), int64(len(junk))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ticks <- time.Now() // the loop drills once...
	ticks <- time.Now() // ...and waits for the next tick: the first drill is over
	last, _ := s.Last()
	if last.Result != drill.ResultFailed || !strings.Contains(last.Report.Reason, f.Key) || last.LastPassedAt != st1.At {
		t.Errorf("drill of a corrupted checkpoint: %+v", last)
	}
	expectMetric(t, reg, "tidemark_drill_last_success", 0)
	if n, err := testutil.GatherAndCount(reg, "tidemark_drill_runs_total"); err != nil || n != 3 {
		t.Errorf("tidemark_drill_runs_total has %d series (%v), want one per result", n, err)
	}
	expectRuns(t, reg, map[string]float64{drill.ResultPassed: 1, drill.ResultFailed: 1, drill.ResultError: 0})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// expectMetric checks the value of the gauge name in reg.
func expectMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
			return
		}
	}
	t.Errorf("no metric %s", name)
}

// expectRuns checks tidemark_drill_runs_total by result.
func expectRuns(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "tidemark_drill_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("tidemark_drill_runs_total{result=%q} = %v, want %v", r, got[r], n)
		}
	}
}

func readDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}
