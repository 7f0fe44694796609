package contract_test

import (
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// A change's seal holds for its approval, kind and round only.
func TestChangeSealHoldsForItsRound(t *testing.T) {
	key := contract.DecisionKey("0123456789abcdef0123456789abcdef")
	c := key.SealChange("ap-1", contract.UpdateRequestInfo, 1, contract.ChangeRequest{ActorID: "ceo-1", Text: "Which order?", Channel: store.ChannelAPI})
	for _, tc := range []struct {
		approval, kind string
		round          int
		want           string
	}{
		{"ap-1", contract.UpdateRequestInfo, 1, store.ChannelAPI},
		{"ap-1", contract.UpdateRequestInfo, 2, store.ChannelOps},
		{"ap-1", contract.UpdateRequestInfo, 0, store.ChannelOps},
		{"ap-1", contract.UpdateProvideInfo, 1, store.ChannelOps},
		{"ap-2", contract.UpdateRequestInfo, 1, store.ChannelOps},
	} {
		if got := key.ChangeChannel(tc.approval, tc.kind, tc.round, c); got != tc.want {
			t.Errorf("%s %s round %d: %s, want %s", tc.approval, tc.kind, tc.round, got, tc.want)
		}
	}
}
