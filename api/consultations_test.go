package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The room name is what a join link is made of (<base>/<room> without Jitsi
// tokens): a member of the tenant who takes no part in a consultation sees
// it exist on every route that shows it, but never its room, while its host
// and participants get the room with their link.
func TestConsultationRoomOnlyForThoseWhoTakePart(t *testing.T) {
	s := newOAServer(t)
	ctx := context.Background()
	const room, approvalRoom = "room-1", "room-of-the-approval"
	// A consultation an approval opened: the decider hosts it.
	approvalID := store.NewID()
	at := s.store.Now()
	if _, _, err := s.store.RecordApproval(ctx, &store.Approval{ID: approvalID, TenantID: "/teams/support", Title: "refund",
		Status: store.StatusPending, Priority: store.PriorityHigh, RequestedBy: "agent-1", Metadata: store.JSON(`{}`),
		CreatedAt: at, UpdatedAt: at}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.store.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: approvalRoom,
		Status: store.ConsultationScheduled, HostID: "ceo-1", ParticipantIDs: store.StringList{"agent-1", "ceo-1"},
		ApprovalID: &approvalID, TenantID: "/teams/support", CreatedAt: at, UpdatedAt: at}, nil); err != nil {
		t.Fatal(err)
	}
	tenant := url.QueryEscape("/teams/support")
	routes := []struct{ name, path string }{
		{"get", "/api/consultations/" + s.consultation},
		{"list", "/api/consultations?tenantId=" + tenant},
		{"list by approval", "/api/consultations?tenantId=" + tenant + "&approvalId=" + approvalID},
	}
	// rooms reads the consultations a GET shows, and the rooms among them.
	rooms := func(token, path string) (shown int, got []string) {
		t.Helper()
		rec := s.serve(http.MethodGet, path, token, nil, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s as %s: %d %s", path, token, rec.Code, rec.Body)
		}
		var items []map[string]any
		if strings.Contains(path, "?") {
			var page struct{ Items []map[string]any }
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			items = page.Items
		} else {
			var one map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
				t.Fatal(err)
			}
			items = []map[string]any{one}
		}
		for _, it := range items {
			if r, ok := it["jitsiRoom"].(string); ok {
				got = append(got, r)
			}
		}
		if token == "member" && (strings.Contains(rec.Body.String(), room) || strings.Contains(rec.Body.String(), approvalRoom)) {
			t.Errorf("%s as a member who takes no part: the room is in the body %s", path, rec.Body)
		}
		return len(items), got
	}
	for _, r := range routes {
		if n, got := rooms("member", r.path); n == 0 || len(got) != 0 {
			t.Errorf("%s as a member who takes no part: %d consultations, rooms %v; want them shown, without rooms", r.name, n, got)
		}
		if n, got := rooms("good", r.path); n == 0 || len(got) != n {
			t.Errorf("%s as a participant: %d consultations, rooms %v; want every room", r.name, n, got)
		}
	}
	// Start and end refuse a member who takes no part, without naming it.
	for _, step := range []string{"start", "end"} {
		rec := s.serve(http.MethodPost, "/api/consultations/"+s.consultation+"/"+step, "member", nil, nil)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), room) {
			t.Errorf("%s by a member who takes no part: %d %s", step, rec.Code, rec.Body)
		}
	}
}

// ownerTemporal records the updates the API sends and answers each with the
// consultation as the workflow would: the payload, which carries the
// workflow id, through Temporal's default data converter.
type ownerTemporal struct {
	oaTemporal
	sent    []client.UpdateWorkflowOptions
	answers map[string]contract.Consultation // by workflow id
}

type ownerHandle struct {
	client.UpdateWorkflowOptions
	answer contract.Consultation
}

func (h ownerHandle) WorkflowID() string { return h.UpdateWorkflowOptions.WorkflowID }
func (h ownerHandle) RunID() string      { return "" }
func (h ownerHandle) UpdateID() string   { return h.UpdateWorkflowOptions.UpdateID }
func (h ownerHandle) Get(_ context.Context, out any) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(h.answer)
	if err != nil {
		return err
	}
	return converter.GetDefaultDataConverter().FromPayload(p, out)
}

func (t *ownerTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	t.sent = append(t.sent, o)
	answer, ok := t.answers[o.WorkflowID]
	if !ok {
		return nil, serviceerror.NewNotFound("no workflow " + o.WorkflowID)
	}
	return ownerHandle{o, answer}, nil
}

// Start and end go to the workflow that runs the consultation: the one its
// row names (the escalation of the approval that opened it), else its own;
// no answer, view or list shows that workflow's id.
func TestConsultationTransitionsGoToTheirOwner(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	at := st.Now()
	approvalID := store.NewID()
	if _, _, err := st.RecordApproval(ctx, &store.Approval{ID: approvalID, TenantID: "/teams/support", Title: "refund",
		Status: store.StatusPending, Priority: store.PriorityHigh, RequestedBy: "agent-2", Metadata: store.JSON(`{}`),
		CreatedAt: at, UpdatedAt: at}, nil); err != nil {
		t.Fatal(err)
	}
	owner := "escalation-" + approvalID
	born, _, err := st.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "room-born",
		Status: store.ConsultationScheduled, HostID: "ceo-1", ParticipantIDs: store.StringList{"agent-1", "ceo-1"},
		ApprovalID: &approvalID, TenantID: "/teams/support", CreatedAt: at, UpdatedAt: at, WorkflowID: &owner}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adHoc, _, err := st.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "call", JitsiRoom: "room-adhoc",
		Status: store.ConsultationScheduled, HostID: "agent-1", ParticipantIDs: store.StringList{"agent-1"},
		TenantID: "/teams/support", CreatedAt: at, UpdatedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(c *store.Consultation, status string) contract.Consultation {
		row := *c
		row.Status = status
		return contract.ConsultationOf(row)
	}
	tc := &ownerTemporal{answers: map[string]contract.Consultation{
		owner: answer(born, store.ConsultationActive),
		contract.ConsultationWorkflowID(adHoc.ID): answer(adHoc, store.ConsultationActive),
	}}
	if tc.answers[owner].WorkflowID != owner {
		t.Fatalf("the workflow's answer should carry its workflow id, has %q", tc.answers[owner].WorkflowID)
	}
	h := New(Deps{Store: st, Temporal: tc, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler), ApproverRole: "approver"})
	serve := func(method, target string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, target, nil)
		req.Header.Set("Authorization", "Bearer good")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "workflowId") || strings.Contains(rec.Body.String(), owner) {
			t.Errorf("%s %s shows the consultation's workflow: %s", method, target, rec.Body)
		}
		return rec
	}
	for _, tt := range []struct {
		cons *store.Consultation
		want string
	}{
		{born, owner},
		{adHoc, contract.ConsultationWorkflowID(adHoc.ID)},
	} {
		for _, step := range []string{contract.UpdateStart, contract.UpdateEnd} {
			tc.sent = nil
			serve(http.MethodPost, "/api/consultations/"+tt.cons.ID+"/"+step)
			if len(tc.sent) != 1 || tc.sent[0].WorkflowID != tt.want || tc.sent[0].UpdateName != step {
				t.Errorf("%s of %s: sent %+v, want %q to %s", step, tt.cons.Title, tc.sent, step, tt.want)
			}
		}
	}
	serve(http.MethodGet, "/api/consultations/"+born.ID)
	serve(http.MethodGet, "/api/consultations?tenantId="+url.QueryEscape("/teams/support"))
	serve(http.MethodGet, "/api/consultations?tenantId="+url.QueryEscape("/teams/support")+"&approvalId="+approvalID)
}
