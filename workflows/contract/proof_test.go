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

// Proofs already in running workflows' histories and in flight between an
// API and a worker of another version must keep verifying: the encoding is
// pinned by these vectors.
func TestProofVectors(t *testing.T) {
	k := contract.DecisionKey([]byte("0123456789abcdef0123456789abcdef"))
	d := k.Seal("ap-1", contract.DecisionRequest{Status: "approved", Comment: "go", DeciderID: "ceo-1", DeciderName: "Casey", Channel: "api"})
	if want := "c87b9d5114c8d04994b6e1becf71618960ad5eb9501727c27c2660c5404f25dc"; d.Proof != want {
		t.Errorf("decision proof = %s, want %s", d.Proof, want)
	}
	c := k.SealChange("ap-1", contract.UpdateRequestInfo, 2, contract.ChangeRequest{ActorID: "ceo-1", ActorName: "Casey", Text: "which order?", Channel: "api"})
	if want := "619562bd37b9b875abda9a59a79dcbcf047c4772504c6c1078c13193149fac00"; c.Proof != want {
		t.Errorf("change proof = %s, want %s", c.Proof, want)
	}
}
