package workflows

import "github.com/orchestrator-dev/orchestrator/workflows/contract"

// round is the number the next update of kind takes among its kind: the
// questions (request-info) or the answers (provide-info) applied so far,
// plus those accepted and still waiting to be applied, plus one; 0 for a
// withdrawal. A change's seal holds only for its round
// (contract.DecisionKey.SealChange), so an earlier round's sealed question
// or answer sent again is recorded as ops. It reads only the workflow's own
// state: deterministic, and unchanged by replay.
func (e *escalation) round(kind string) int {
	var n int
	switch kind {
	case contract.UpdateRequestInfo:
		n = e.life.Asked
	case contract.UpdateProvideInfo:
		n = e.life.Answered
	default:
		return 0
	}
	for _, c := range e.changes {
		if c.kind == kind {
			n++
		}
	}
	return n + 1
}
