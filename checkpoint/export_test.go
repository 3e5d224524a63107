package checkpoint

// TrackedCheckpoints is how many checkpoints c keeps anything of in memory
// (their metadata or their files' references). Call it after Run returned.
func TrackedCheckpoints(c *Coordinator) int {
	holders, _ := c.reg.size()
	return holders
}

// EncodeInFlight is the in-flight file's encoder (DecodeInFlight is
// exported).
var EncodeInFlight = encodeInFlight
