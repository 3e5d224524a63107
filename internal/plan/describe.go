package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// Description returns the topology description lines (design §3.7; see
// Topology): max_parallelism and parallelism, then per stage in order a
// stage line, its source, the operators whose state or keys a
// checkpoint depends on (Node.Describe: stateful ones and key_by), and
// its sinks (transactional ids name the stage). Stateless operators that
// decide no key are left out, so that changing them keeps checkpoints
// restorable. A legacy job's lines are those of before, byte for byte.
func (j *Job) Description() []string {
	if j.Legacy {
		return j.legacyDescription()
	}
	desc := []string{
		fmt.Sprintf("max_parallelism=%d", j.MaxParallelism),
		fmt.Sprintf("parallelism=%d", j.Parallelism),
	}
	for _, st := range j.Stages {
		desc = append(desc, fmt.Sprintf("stage name=%s tasks=%d kind=%s sink=%t", st.Name, st.Tasks, st.Kind, st.SinkBearing))
		for _, s := range st.Sources {
			desc = append(desc, fmt.Sprintf("source name=%s stage=%s %s", s.Name, st.Name, describeTopics(s)))
		}
		for _, n := range st.Nodes {
			switch {
			case n.Kind == SinkNode:
				desc = append(desc, fmt.Sprintf("sink name=%s stage=%s", n.Name, st.Name))
			case n.Describe != "":
				desc = append(desc, fmt.Sprintf("operator name=%s stage=%s %s", n.Name, st.Name, n.Describe))
			}
		}
	}
	return desc
}

func describeTopics(s *Source) string {
	if s.Config.TopicRegex != "" {
		return "topic_regex=" + strconv.Quote(s.Config.TopicRegex)
	}
	return "topics=" + strings.Join(s.Config.Topics, ",")
}

// legacyDescription is internal/job's Spec.Topology of before for the
// single chain: parallelism, the source tasks, the key_bys of the source
// tasks, the operators of the keyed tasks and the sink.
func (j *Job) legacyDescription() []string {
	src, keyed := j.Stages[0], j.Stages[1]
	desc := []string{
		fmt.Sprintf("max_parallelism=%d", j.MaxParallelism),
		fmt.Sprintf("parallelism=%d", j.Parallelism),
		fmt.Sprintf("source_tasks=%d", src.Tasks),
	}
	for _, n := range src.Nodes {
		desc = append(desc, strings.TrimSpace(fmt.Sprintf("source-operator name=%s %s", n.Name, n.Describe)))
	}
	for _, n := range keyed.Nodes {
		desc = append(desc, strings.TrimSpace(fmt.Sprintf("operator name=%s %s", n.Name, n.Describe)))
	}
	return desc
}
