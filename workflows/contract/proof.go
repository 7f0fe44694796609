package contract

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// DecisionKey proves which channel sent a decision. Anyone who can reach
// Temporal can send the decide update with any decider and channel; only
// the orchestrator's own channels (the API, the Matrix receiver), which
// checked the decider's authority first, hold this key. A decision without a
// valid proof is recorded as ops, whatever it claims.
type DecisionKey []byte

// MinDecisionKeyBytes is the least length of a decision key.
const MinDecisionKeyBytes = 32

// provenChannels are the channels a proof can vouch for.
var provenChannels = []string{store.ChannelAPI, store.ChannelMatrix, store.ChannelChatwoot}

// Seal attaches the proof that d, for this approval, comes from d.Channel.
func (k DecisionKey) Seal(approvalID string, d DecisionRequest) DecisionRequest {
	d.Proof = k.proof(decisionFields(approvalID, d))
	return d
}

// Channel is the channel to record for d: the one it claims when the proof
// holds, ChannelOps otherwise.
func (k DecisionKey) Channel(approvalID string, d DecisionRequest) string {
	return k.channel(d.Channel, d.Proof, decisionFields(approvalID, d))
}

func decisionFields(approvalID string, d DecisionRequest) []string {
	return []string{"decision-v1", approvalID, d.Status, d.Comment, d.DeciderID, d.DeciderName, d.Channel}
}

// SealChange attaches the proof that c, the round-th update of kind to this
// approval, comes from c.Channel. round numbers the questions (request-info)
// and the answers (provide-info) of the approval from 1; a withdrawal, which
// happens once, is round 0.
//
// The round is sealed so that a proof is good for one question or answer
// only: without it, whoever can reach Temporal could send an earlier
// round's sealed question again, word for word, and have it recorded as
// that approver on channel api. The round, rather than the update id, is
// what binds: Temporal drops a repeated update id only within one run (a
// continued-as-new escalation would take it again), while the round is the
// escalation's own count, which both the API (the audit entries of the
// questions and answers recorded so far) and the workflow (its
// bookkeeping) know, deterministically.
func (k DecisionKey) SealChange(approvalID, kind string, round int, c ChangeRequest) ChangeRequest {
	c.Proof = k.proof(changeFields(approvalID, kind, round, c))
	return c
}

// ChangeChannel is the channel to record for c, received as the round-th
// update of kind: the claimed one when the proof holds for that round,
// ChannelOps otherwise.
func (k DecisionKey) ChangeChannel(approvalID, kind string, round int, c ChangeRequest) string {
	return k.channel(c.Channel, c.Proof, changeFields(approvalID, kind, round, c))
}

func changeFields(approvalID, kind string, round int, c ChangeRequest) []string {
	return []string{"change-v2", kind, approvalID, strconv.Itoa(round), c.ActorID, c.ActorName, c.Text, c.Channel}
}

// channel is claimed when proof is the key's proof of fields and claimed is
// a channel a proof can vouch for; ChannelOps otherwise.
func (k DecisionKey) channel(claimed, proof string, fields []string) string {
	if len(k) == 0 || proof == "" || !slices.Contains(provenChannels, claimed) ||
		!hmac.Equal([]byte(proof), []byte(k.proof(fields))) {
		return store.ChannelOps
	}
	return claimed
}

// proof is the HMAC of fields. NUL separates them: none may contain one
// (Validate), so no two field lists share a proof. The first field names
// what is sealed and its version, so a decision's proof never passes for a
// change's.
func (k DecisionKey) proof(fields []string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(strings.Join(fields, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}
