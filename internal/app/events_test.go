package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// eventReceiver is a tenant's system receiving events: it verifies every
// delivery with the Standard Webhooks reference library, de-duplicates on
// webhook-id, and keeps what arrived in order. fail answers 500 to the
// first attempt of the events it selects.
type eventReceiver struct {
	t      *testing.T
	secret string
	fail   func(typ string) bool
	gone   bool // answer 410 to everything
	mu     sync.Mutex
	seen   map[string]int // webhook-id -> attempts received
	events []receivedEvent
	srv    *httptest.Server
}

type receivedEvent struct {
	ID, Type, Tenant, Resource string
	Sequence                   int64
}

func newEventReceiver(t *testing.T, fail func(string) bool) *eventReceiver {
	r := &eventReceiver{t: t, fail: fail, seen: map[string]int{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *eventReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.t.Errorf("a delivery does not verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      struct {
			ID       string `json:"id"`
			TenantID string `json:"tenantId"`
			Sequence int64  `json:"sequence"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" || ev.Timestamp == "" || ev.Data.ID == "" {
		r.t.Errorf("not a Standard Webhooks envelope: %v %s", err, body)
	}
	id := req.Header.Get("webhook-id")
	r.seen[id]++
	if r.gone {
		w.WriteHeader(http.StatusGone)
		return
	}
	if r.seen[id] == 1 && r.fail != nil && r.fail(ev.Type) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if r.seen[id] == 1 || !slices.ContainsFunc(r.events, func(e receivedEvent) bool { return e.ID == id }) {
		resource, _, _ := strings.Cut(ev.Type, ".")
		r.events = append(r.events, receivedEvent{ID: id, Type: ev.Type, Tenant: ev.Data.TenantID, Resource: resource + "/" + ev.Data.ID, Sequence: ev.Data.Sequence})
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *eventReceiver) received() ([]receivedEvent, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]int{}
	for k, v := range r.seen {
		seen[k] = v
	}
	return append([]receivedEvent(nil), r.events...), seen
}

// A receiver using the reference library verifies every delivery of a full
// flow (create, question, answer, approve, the consultation's start and end;
// an expiry; a withdraw), gets each event once however often it was sent,
// always with one webhook-id, and can order each resource's events by their
// sequence. The subscription is made through the store and its delivery
// workflow started as the API does on creation.
func TestEventsOfAFullFlowAreDelivered(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			url := storetest.URL(t, d)
			env := newEnv(t, url)
			env["EVENTS_RETRY_SCHEDULE"] = "200ms,500ms,1s,2s"
			s := startStack(t, env)
			ctx := context.Background()
			st, err := store.Open(ctx, url, store.Options{MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()

			// The withdrawal is the last event of its escalation: failing
			// its first attempt shows a retry with no later event to overtake.
			rcv := newEventReceiver(t, func(typ string) bool { return typ == "approval.withdrawn" })
			sub, err := st.CreateSubscription(ctx, store.Subscription{TenantID: "/teams/support", URL: rcv.srv.URL + "/hooks", CreatedBy: "test"}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			rcv.mu.Lock()
			rcv.secret = sub.Secret
			rcv.mu.Unlock()
			starter := &events.Starter{Temporal: devServer.Client(), TaskQueue: env["TEMPORAL_TASK_QUEUE"] + "-events"}
			if err := starter.EnsureDelivering(ctx, sub.TenantID, sub.ID); err != nil {
				t.Fatal(err)
			}
			if err := starter.EnsureDelivering(ctx, sub.TenantID, sub.ID); err != nil {
				t.Fatalf("ensuring twice joins the running workflow: %v", err)
			}

			agent := s.token("agent-1", support)
			ceo := s.token("ceo-1", support, "approver")
			create := func(body map[string]any) string {
				body["tenantId"] = "/teams/support"
				r := s.do("POST", "/api/approvals", agent, body)
				if r.status != http.StatusCreated {
					t.Fatalf("create: %d %s", r.status, r.body)
				}
				return r.json(t)["id"].(string)
			}
			ok := func(method, path, token string, body any) map[string]any {
				t.Helper()
				r := s.do(method, path, token, body)
				if r.status != http.StatusOK {
					t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
				}
				return r.json(t)
			}

			expiring := create(map[string]any{"title": "Soon due", "expiresAt": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)})
			flow := create(map[string]any{"title": "Refund above limit"})
			ok("POST", "/api/approvals/"+flow+"/request-info", ceo, map[string]any{"question": "Which order?"})
			ok("POST", "/api/approvals/"+flow+"/provide-info", agent, map[string]any{"answer": "Order 42"})
			ok("PATCH", "/api/approvals/"+flow, ceo, map[string]any{"status": "approved", "comment": "go ahead"})
			var cid string
			eventually(t, "the approval's consultation", func() bool {
				items := s.do("GET", "/api/consultations?tenantId=%2Fteams%2Fsupport", agent, nil).json(t)["items"].([]any)
				if len(items) == 1 {
					cid = items[0].(map[string]any)["id"].(string)
				}
				return cid != ""
			})
			ok("POST", "/api/consultations/"+cid+"/start", ceo, nil)
			ok("POST", "/api/consultations/"+cid+"/end", ceo, nil)
			withdrawn := create(map[string]any{"title": "Take back"})
			ok("POST", "/api/approvals/"+withdrawn+"/withdraw", agent, map[string]any{"comment": "solved"})

			want := map[string][]string{
				"approval/" + flow:      {"approval.created", "approval.info_requested", "approval.info_provided", "approval.approved"},
				"consultation/" + cid:   {"consultation.created", "consultation.started", "consultation.ended"},
				"approval/" + expiring:  {"approval.created", "approval.expired"},
				"approval/" + withdrawn: {"approval.created", "approval.withdrawn"},
			}
			total := 0
			for _, w := range want {
				total += len(w)
			}
			eventuallyWithin(t, 30*time.Second, "every event at the receiver", func() bool {
				got, _ := rcv.received()
				return len(got) >= total
			})
			time.Sleep(300 * time.Millisecond) // anything more would show up now
			got, seen := rcv.received()
			byResource := map[string][]receivedEvent{}
			for _, e := range got {
				if e.Tenant != "/teams/support" {
					t.Errorf("event %s of tenant %q", e.ID, e.Tenant)
				}
				byResource[e.Resource] = append(byResource[e.Resource], e)
			}
			for res, types := range want {
				evs := byResource[res]
				var gotTypes []string
				for i, e := range evs {
					gotTypes = append(gotTypes, e.Type)
					if e.Sequence != int64(i+1) {
						t.Errorf("%s: %s arrived %d-th with sequence %d", res, e.Type, i+1, e.Sequence)
					}
				}
				if !slices.Equal(gotTypes, types) {
					t.Errorf("%s: received %v, want %v in this order", res, gotTypes, types)
				}
			}
			if len(byResource) != len(want) {
				keys := make([]string, 0, len(byResource))
				for k := range byResource {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				t.Errorf("events about %v, want exactly %d resources", keys, len(want))
			}
			for _, e := range byResource["approval/"+withdrawn] {
				if n := seen[e.ID]; e.Type == "approval.withdrawn" && n != 2 {
					t.Errorf("the withdrawal was received %d times, want 2 (a 500, then its retry with the same webhook-id)", n)
				}
			}
			for _, dl := range storetest.Deliveries(t, st, "/teams/support", sub.ID) {
				if dl.Status != store.DeliveryDelivered {
					t.Errorf("delivery %s", dl)
				}
			}
			desc, err := devServer.Client().DescribeWorkflow(ctx, events.WorkflowID(sub.ID), "")
			if err != nil || desc.RawResponse.GetWorkflowExecutionInfo().GetCloseTime() != nil {
				t.Fatalf("the subscription's delivery workflow is not running: %v %v", desc, err)
			}

			// The receiver answers 410 Gone: the subscription is disabled and
			// its delivery workflow ends.
			rcv.mu.Lock()
			rcv.fail = nil
			rcv.gone = true
			rcv.mu.Unlock()
			create(map[string]any{"title": "After the receiver left"})
			run := devServer.Client().GetWorkflow(ctx, events.WorkflowID(sub.ID), "")
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := run.Get(wctx, nil); err != nil {
				t.Fatalf("the delivery workflow after a 410: %v", err)
			}
			if got, err := st.GetSubscription(ctx, store.ScopeOf(sub.TenantID), sub.ID); err != nil || got.Enabled ||
				got.DisabledReason == nil || *got.DisabledReason != store.DisabledGone {
				t.Fatalf("after a 410 the subscription is %+v (%v), want disabled as gone", got, err)
			}
			h := fetchHistory(t, devServer.Client(), events.WorkflowID(sub.ID))

			// Enabled again (PATCH enabled=true), its delivery workflow starts
			// anew and the receiver, back, gets what is new; the delivery
			// the 410 failed stays failed.
			rcv.mu.Lock()
			rcv.gone = false
			rcv.mu.Unlock()
			enabled := true
			if _, err := st.UpdateSubscription(ctx, store.ScopeOf(sub.TenantID), sub.ID, store.SubscriptionUpdate{Enabled: &enabled}, nil); err != nil {
				t.Fatal(err)
			}
			if err := starter.EnsureDelivering(ctx, sub.TenantID, sub.ID); err != nil {
				t.Fatalf("restart the delivery workflow: %v", err)
			}
			before, _ := rcv.received()
			again := create(map[string]any{"title": "After the receiver came back"})
			eventuallyWithin(t, 15*time.Second, "the event after re-enabling", func() bool {
				got, _ := rcv.received()
				return len(got) > len(before) && got[len(got)-1].Resource == "approval/"+again
			})
			var failed int
			for _, dl := range storetest.Deliveries(t, st, "/teams/support", sub.ID) {
				if dl.Status == store.DeliveryFailed {
					failed++
				}
			}
			if failed != 1 {
				t.Errorf("%d failed deliveries, want the one answered 410", failed)
			}
			replayer := sdkworker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(events.Workflow, workflow.RegisterOptions{Name: events.WorkflowName})
			if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
				t.Fatalf("replay the delivery workflow: %v", err)
			}
			if *updateHistories && d == store.SQLite {
				b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
				if err != nil {
					t.Fatal(err)
				}
				// event-delivery-gone.json is the history from before the
				// wake signal (started, never signalled); it stays as it is.
				path := filepath.Join("..", "events", "testdata", "histories", "event-delivery-gone-signalled.json")
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", path)
			}
		})
	}
}
