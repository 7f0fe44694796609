package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// GET /api/consultations?tenantId=&approvalId= answers "which room did this
// approval open?" on both backends: that approval's consultation, nothing for
// an approval without one or of another tenant, 400 for a value that is not
// an id.
func TestListConsultationsByApprovalID(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			hs := newHostileServer(t, d)
			ctx := context.Background()
			// room records an approval of tenant and the consultation its
			// decision opened.
			room := func(tenant string) (approvalID, consultationID string) {
				t.Helper()
				at := hs.store.Now().Add(-time.Minute)
				ap, _, err := hs.store.RecordApproval(ctx, &store.Approval{
					ID: store.NewID(), TenantID: tenant, Title: "refund", Status: store.StatusPending, Priority: store.PriorityHigh,
					RequestedBy: "agent-2", Metadata: store.JSON(`{}`), CreatedAt: at, UpdatedAt: at,
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				c, _, err := hs.store.CreateConsultation(ctx, &store.Consultation{
					ID: store.NewID(), Title: "refund", JitsiRoom: "consult-" + ap.ID, Status: store.ConsultationScheduled,
					HostID: "ceo-1", ParticipantIDs: store.StringList{"agent-2", "ceo-1"}, ApprovalID: &ap.ID,
					TenantID: tenant, CreatedAt: at, UpdatedAt: at,
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return ap.ID, c.ID
			}
			approval, consultation := room(hostileTenant)
			room(hostileTenant) // another approval's room in the same tenant
			foreign, _ := room("/teams/engineering")

			get := func(approvalID string) (int, []map[string]any) {
				t.Helper()
				target := "/api/consultations?tenantId=" + url.QueryEscape(hostileTenant) + "&approvalId=" + url.QueryEscape(approvalID)
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Authorization", "Bearer "+hostileToken)
				rec := httptest.NewRecorder()
				hs.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					return rec.Code, nil
				}
				var page struct {
					Items      []map[string]any `json:"items"`
					NextCursor *string          `json:"nextCursor"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
					t.Fatalf("%s: %v in %s", target, err, rec.Body)
				}
				if page.NextCursor != nil {
					t.Fatalf("%s: a filtered list has at most one item, got a next cursor", target)
				}
				return rec.Code, page.Items
			}

			code, items := get(approval)
			if code != http.StatusOK || len(items) != 1 || items[0]["id"] != consultation || items[0]["approvalId"] != approval {
				t.Fatalf("approvalId=%s: want 200 with exactly consultation %s, got %d %v", approval, consultation, code, items)
			}
			if code, items := get(hs.approvalID); code != http.StatusOK || len(items) != 0 {
				t.Fatalf("an approval that opened no room: want 200 and no items, got %d %v", code, items)
			}
			if code, items := get(foreign); code != http.StatusOK || len(items) != 0 {
				t.Fatalf("another tenant's approval: want 200 and no items, got %d %v", code, items)
			}
			for _, bad := range []string{"", "room-1", approval + "0", "1' OR '1'='1"} {
				if code, _ := get(bad); code != http.StatusBadRequest {
					t.Fatalf("approvalId=%q: want 400, got %d", bad, code)
				}
			}
		})
	}
}
