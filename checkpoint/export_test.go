package checkpoint

// TrackedCheckpoints is how many checkpoints c keeps anything of in memory
// (their metadata or their files' references). Call it after Run returned.
func TrackedCheckpoints(c *Coordinator) int {
	holders, _ := c.reg.size()
	return holders
}

// EncodeInFlight and DecodeInFlight are the in-flight file's codec.
var (
	EncodeInFlight = encodeInFlight
	DecodeInFlight = decodeInFlight
)
