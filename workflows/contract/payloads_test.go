package contract_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func fullApproval() store.Approval {
	at := time.Date(2026, 12, 7, 9, 30, 0, 123000000, time.UTC)
	later, deadline := at.Add(time.Hour), at.Add(24*time.Hour)
	by, name, comment := "ceo-1", "The CEO", "fine"
	acct, conv := int64(7), int64(42)
	return store.Approval{
		ID: "ap-1", TenantID: "/teams/support", Title: "Refund", Description: "2k", Status: store.StatusApproved,
		Priority: store.PriorityHigh, RequestedBy: "agent-1", RequestedByName: "Agent One",
		ApprovedBy: &by, ApprovedByName: &name, Comment: &comment, Metadata: store.JSON(`{"source":"chatwoot","n":1}`),
		Conversation: &store.Conversation{AccountID: acct, ConversationID: conv}, ConvAccountID: &acct, ConvID: &conv,
		CreatedAt: at, UpdatedAt: later, DecidedAt: &later, ExpiresAt: &deadline,
	}
}

func fullConsultation() store.Consultation {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	started, ended := at.Add(time.Minute), at.Add(time.Hour)
	approval, reason := "ap-1", "host"
	return store.Consultation{
		ID: "c-1", Title: "Call", JitsiRoom: "consult-abc", Status: store.ConsultationEnded, HostID: "ceo-1",
		ParticipantIDs: store.StringList{"agent-1", "ceo-1"}, ApprovalID: &approval, TenantID: "/teams/support",
		EndReason: &reason, ScheduledAt: &at, StartedAt: &started, EndedAt: &ended, CreatedAt: at, UpdatedAt: ended,
	}
}

// The workflows' payloads encode as the rows they were before they had
// their own types: recorded histories decode into them unchanged, and what
// they carry back encodes as the API's bodies. A column added to a row
// (with a JSON name) fails here until the payload has it too.
func TestPayloadsEncodeLikeRows(t *testing.T) {
	ap, cons := fullApproval(), fullConsultation()
	requireEveryJSONFieldSet(t, ap)
	requireEveryJSONFieldSet(t, cons)

	for _, tc := range []struct {
		name         string
		row, payload any
	}{
		{"approval", ap, contract.ApprovalOf(ap)},
		{"empty approval", store.Approval{}, contract.ApprovalOf(store.Approval{})},
		{"consultation", cons, contract.ConsultationOf(cons)},
		{"empty consultation", store.Consultation{}, contract.ConsultationOf(store.Consultation{})},
	} {
		rowJSON, err := json.Marshal(tc.row)
		if err != nil {
			t.Fatal(err)
		}
		payloadJSON, err := json.Marshal(tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rowJSON, payloadJSON) {
			t.Errorf("%s: the payload encodes differently from the row\n row     %s\n payload %s", tc.name, rowJSON, payloadJSON)
		}
		// What a history recorded with the row decodes into the payload
		// and encodes back byte for byte.
		fresh := reflect.New(reflect.TypeOf(tc.payload))
		if err := json.Unmarshal(rowJSON, fresh.Interface()); err != nil {
			t.Fatalf("%s: decode the row's JSON into the payload: %v", tc.name, err)
		}
		again, _ := json.Marshal(fresh.Elem().Interface())
		if !bytes.Equal(rowJSON, again) {
			t.Errorf("%s: the row's JSON does not survive the payload\n row     %s\n payload %s", tc.name, rowJSON, again)
		}
	}

	// And back to the rows the activities write.
	back := contract.ApprovalOf(ap).Row()
	ap.ConvAccountID, ap.ConvID = nil, nil // filled from Conversation on save
	if !reflect.DeepEqual(back, ap) {
		t.Errorf("approval row round trip\n got %+v\nwant %+v", back, ap)
	}
	if back := contract.ConsultationOf(cons).Row(); !reflect.DeepEqual(back, cons) {
		t.Errorf("consultation row round trip\n got %+v\nwant %+v", back, cons)
	}
	if contract.ApprovalPtr(nil) != nil || contract.ConsultationPtr(nil) != nil {
		t.Error("no row converts to a payload")
	}
}

// requireEveryJSONFieldSet fails when a field of row that JSON encodes is
// zero, so the fixture above stays fully populated as the row grows.
func requireEveryJSONFieldSet(t *testing.T, row any) {
	t.Helper()
	v := reflect.ValueOf(row)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if tag := f.Tag.Get("json"); tag == "-" || !f.IsExported() {
			continue
		}
		if v.Field(i).IsZero() {
			t.Errorf("%s.%s is not set in the test's row: set it, and give the payload (workflows/contract) the field with the same JSON name",
				v.Type().Name(), f.Name)
		}
	}
}

// A consultation's workflow id crosses into the payload and back (empty is
// nil), and only the payload encodes it: left out when empty, so histories
// recorded without it encode as before.
func TestConsultationWorkflowIDOnlyInThePayload(t *testing.T) {
	cons := fullConsultation()
	owner := "escalation-ap-1"
	cons.WorkflowID = &owner
	payload := contract.ConsultationOf(cons)
	if payload.WorkflowID != owner {
		t.Fatalf("payload workflow id %q, want %q", payload.WorkflowID, owner)
	}
	if back := payload.Row(); !reflect.DeepEqual(back, cons) {
		t.Errorf("row round trip\n got %+v\nwant %+v", back, cons)
	}
	if b, _ := json.Marshal(cons); bytes.Contains(b, []byte("workflowId")) {
		t.Errorf("the row encodes its workflow id: %s", b)
	}
	if b, _ := json.Marshal(payload); !bytes.Contains(b, []byte(`"workflowId":"escalation-ap-1"`)) {
		t.Errorf("the payload does not carry its workflow id: %s", b)
	}
	var decoded contract.Consultation
	if b, _ := json.Marshal(payload); json.Unmarshal(b, &decoded) != nil || decoded.WorkflowID != owner {
		t.Errorf("decoded payload workflow id %q", decoded.WorkflowID)
	}
	none := fullConsultation()
	if p := contract.ConsultationOf(none); p.WorkflowID != "" || p.Row().WorkflowID != nil {
		t.Errorf("no workflow id: payload %q, row %v", p.WorkflowID, p.Row().WorkflowID)
	}
}

// The workflow that runs a consultation: the one its row names, else its own.
func TestConsultationOwner(t *testing.T) {
	own := store.Consultation{ID: "c-1"}
	if got := contract.ConsultationOwner(own); got != contract.ConsultationWorkflowID("c-1") {
		t.Errorf("no workflow id: %q", got)
	}
	empty := ""
	own.WorkflowID = &empty
	if got := contract.ConsultationOwner(own); got != contract.ConsultationWorkflowID("c-1") {
		t.Errorf("an empty workflow id: %q", got)
	}
	esc := "escalation-ap-1"
	own.WorkflowID = &esc
	if got := contract.ConsultationOwner(own); got != esc {
		t.Errorf("workflow id %q: owner %q", esc, got)
	}
}
