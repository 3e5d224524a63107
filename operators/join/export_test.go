package join

// SetMaxListed sets the bound of rows an interval join lists per key and
// side, for tests, and returns the previous one.
func SetMaxListed(n int) int {
	old := maxListed
	maxListed = n
	return old
}
