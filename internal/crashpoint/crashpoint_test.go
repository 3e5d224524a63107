package crashpoint

import (
	"slices"
	"testing"
)

func TestHitCountsDown(t *testing.T) {
	var fired []string
	old := crash
	crash = func(name string) { fired = append(fired, name) }
	t.Cleanup(func() { crash = old; _ = Arm("") })

	if err := Arm(AfterMetadata + ":3," + SinkAfterCommit); err != nil {
		t.Fatal(err)
	}
	Hit(AfterMetadata)
	Hit(AfterMetadata)
	Hit(GCAfterDelete) // not armed
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	Hit(AfterMetadata)
	Hit(SinkAfterCommit)
	Hit(AfterMetadata) // past its count: fires once only
	if want := []string{AfterMetadata, SinkAfterCommit}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
}

func TestArmRejectsBadSpecs(t *testing.T) {
	t.Cleanup(func() { _ = Arm("") })
	for _, spec := range []string{"no-such-point", AfterMetadata + ":0", AfterMetadata + ":x"} {
		if err := Arm(spec); err == nil {
			t.Errorf("Arm(%q) accepted", spec)
		}
	}
	if err := Arm(""); err != nil || armed.Load() {
		t.Fatalf("Arm(\"\"): %v, armed %v", err, armed.Load())
	}
}
