package aggregate

// SetMaxCached sets how many windows a tumbling or hopping aggregate keeps
// in memory between batches, and returns a function that restores it.
func SetMaxCached(n int) (restore func()) {
	old := maxCached
	maxCached = n
	return func() { maxCached = old }
}
