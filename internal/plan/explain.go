package plan

import (
	"fmt"
	"strings"
)

// Explain renders the plan for people (processor validate prints it):
// per stage its kind, tasks and roles, then its sources and nodes in
// order, each node with its type, output mode and inputs (the sender,
// the edge kind and, on a hash edge, the key it is routed by).
func (j *Job) Explain() string {
	var b strings.Builder
	for _, st := range j.Stages {
		roles := []string{st.Kind.String(), fmt.Sprintf("%d tasks", st.Tasks)}
		if st.Stateful {
			roles = append(roles, "stateful")
		}
		if st.SinkBearing {
			roles = append(roles, "sink")
		}
		fmt.Fprintf(&b, "stage %s (%s)\n", st.Name, strings.Join(roles, ", "))
		for _, s := range st.Sources {
			fmt.Fprintf(&b, "  source %s %s\n", s.Name, describeTopics(s))
		}
		for _, n := range st.Nodes {
			typ := n.Type
			if n.Kind == SinkNode {
				typ = "sink"
				if n.Sink != nil && n.Sink.Topic != "" {
					typ += " topic=" + n.Sink.Topic
				} else if n.Sink != nil {
					typ += " topic_expr=" + n.Sink.TopicExpr
				}
			}
			var ins []string
			for _, e := range n.Ins {
				in := e.FromName()
				if e.From != nil && e.Port > 0 {
					in += "." + e.From.Ports[e.Port]
				}
				in += " " + e.Kind.String()
				if e.Kind == Hash {
					key := "key"
					if e.Key != nil {
						key = e.Key.String()
					}
					in += "(" + key + ")"
				}
				if n.Inputs > 1 {
					in += fmt.Sprintf(" [%d]", e.Input)
				}
				ins = append(ins, in)
			}
			mode := n.Mode.String()
			if n.Kind == SinkNode && n.Sink != nil {
				mode = n.Sink.Mode
			}
			fmt.Fprintf(&b, "  %s %s %s ← %s\n", n.Name, typ, mode, strings.Join(ins, ", "))
		}
	}
	return b.String()
}
