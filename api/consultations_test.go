package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
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
