package plan

// Description returns the topology description lines (see Topology).
func (j *Job) Description() []string {
	return nil // TODO
}
