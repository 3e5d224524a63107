package config

import "time"

// Drill configures the recovery drill the processor runs on a schedule
// (package checkpoint/drill): in the background, the checkpoint a restart
// would restore is downloaded, every file checked against its checksum
// and each task's state opened in a scratch directory under state.dir;
// the outcome is exported as metrics (tidemark_drill_*). It is what
// `processor checkpoints verify` does, from inside the processor.
type Drill struct {
	// Interval between drills; 0 turns them off. Default 0.
	Interval time.Duration `yaml:"interval"`
	// MaxBytesPerSecond paces a drill's downloads, so that it takes
	// little bandwidth from the job; 0: no limit. Default 32 MiB/s.
	MaxBytesPerSecond int64 `yaml:"max_bytes_per_second"`
}

// MinDrillInterval is the shortest drill.interval accepted (other than 0).
const MinDrillInterval = time.Second

// DefaultDrill returns the drill's defaults: off, 32 MiB/s when on.
func DefaultDrill() Drill { return Drill{MaxBytesPerSecond: 32 << 20} }

func (c *Config) validateDrill(ps *problems) {
	switch d := c.Drill.Interval; {
	case d < 0:
		ps.add("drill.interval", 0, "must not be negative (0: no drill), got %s", d)
	case d > 0 && d < MinDrillInterval:
		ps.add("drill.interval", 0, "must be 0 (no drill) or at least %s, got %s", MinDrillInterval, d)
	}
	if c.Drill.MaxBytesPerSecond < 0 {
		ps.add("drill.max_bytes_per_second", 0, "must not be negative (0: no limit), got %d", c.Drill.MaxBytesPerSecond)
	}
}
