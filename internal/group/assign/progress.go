package assign

// MissingBytes returns how many bytes a local copy at checkpoint copyAt
// lacks of the task's newest checkpoint (§3.4): the UploadedBytes of the
// checkpoints after copyAt, found by following Previous from the newest
// checkpoint, capped by the newest's StateBytes. copyAt 0 means no copy:
// the whole StateBytes. A task without any checkpoint has no state, so
// nothing is missing. When the chain breaks before reaching copyAt (the
// compacted tasks topic dropped a record), the copy counts as lacking
// the whole state.
func MissingBytes(p Progress, copyAt uint64) int64 {
	return newProgressIndex(p).missing(copyAt)
}

func missingBytes(byID map[uint64]CheckpointSize, newest CheckpointSize, copyAt uint64) int64 {
	if copyAt >= newest.ID {
		return 0
	}
	whole := max(newest.StateBytes, 0)
	if copyAt == 0 {
		return whole
	}
	var sum int64
	cur := newest
	for {
		sum += max(cur.UploadedBytes, 0)
		if sum >= whole {
			return whole
		}
		if cur.Previous <= copyAt {
			return sum
		}
		prev, ok := byID[cur.Previous]
		if !ok || prev.ID >= cur.ID {
			return whole
		}
		cur = prev
	}
}

// progressIndex answers MissingBytes for one task without rebuilding the
// map on every question.
type progressIndex struct {
	byID   map[uint64]CheckpointSize
	newest CheckpointSize
	any    bool
}

func newProgressIndex(p Progress) progressIndex {
	x := progressIndex{byID: make(map[uint64]CheckpointSize, len(p.Checkpoints))}
	for _, c := range p.Checkpoints {
		x.byID[c.ID] = c
		if !x.any || c.ID > x.newest.ID {
			x.newest = c
			x.any = true
		}
	}
	return x
}

func (x progressIndex) missing(copyAt uint64) int64 {
	if !x.any {
		return 0
	}
	return missingBytes(x.byID, x.newest, copyAt)
}

// newestUpload returns what the newest checkpoint uploaded.
func (x progressIndex) newestUpload() int64 {
	if !x.any {
		return 0
	}
	return max(x.newest.UploadedBytes, 0)
}
