package activities_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

const jitsiSecret = "a-jitsi-app-secret-of-at-least-32-bytes!"

type fixture struct {
	cw  *chatwoottest.Server
	st  *store.Store
	out *activities.Outbound
	ap  store.Approval
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	return newFixtureOn(t, timeout, storetest.Open(t, store.SQLite))
}

// eachDialect runs fn on a fixture of each store dialect.
func eachDialect(t *testing.T, timeout time.Duration, fn func(t *testing.T, f *fixture)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, newFixtureOn(t, timeout, storetest.Open(t, d))) })
	}
}

// newFixtureOn is newFixture on a migrated store of the caller's.
func newFixtureOn(t *testing.T, timeout time.Duration, st *store.Store) *fixture {
	t.Helper()
	cw := chatwoottest.Start(t)
	cw.AddConversation(1, 42, "vip")
	tmpl, err := chatwoot.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jitsi.New(jitsi.Config{BaseURL: "https://meet.example.com", AppID: "orchestrator", AppSecret: jitsiSecret})
	if err != nil {
		t.Fatal(err)
	}
	now := st.Now()
	ap := store.Approval{ID: store.NewID(), TenantID: "/teams/support", Title: "Refund above limit", Status: store.StatusPending,
		Priority: store.PriorityHigh, RequestedBy: "agent-1", RequestedByName: "Alex Agent", Metadata: store.JSON("{}"),
		Conversation: &store.Conversation{AccountID: 1, ConversationID: 42}, CreatedAt: now, UpdatedAt: now}
	if _, _, err := st.RecordApproval(context.Background(), &ap, nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{cw: cw, st: st, ap: ap, out: &activities.Outbound{
		Store: st, Chatwoot: chatwoot.New(cw.URL(), cw.Token(), &http.Client{Timeout: timeout}), Templates: tmpl,
		Jitsi: signer, ApproverRole: "CEO", BaseURL: "http://orchestrator.test",
	}}
}

func (f *fixture) notes(t *testing.T, private bool) []chatwoottest.Message {
	t.Helper()
	var out []chatwoottest.Message
	for _, m := range f.cw.Messages(1, 42) {
		if m.MessageType != 2 && m.Private == private {
			out = append(out, m)
		}
	}
	return out
}

// notifyUntilDone calls Notify as Temporal would: again after every error.
func (f *fixture) notifyUntilDone(t *testing.T, in activities.NotifyInput) (*activities.NotifyResult, int) {
	t.Helper()
	for attempt := 1; attempt <= 10; attempt++ {
		res, err := f.out.Notify(context.Background(), in)
		if err == nil {
			return res, attempt
		}
	}
	t.Fatal("notification never succeeded")
	return nil, 0
}

func (f *fixture) audit(t *testing.T, action string) int {
	t.Helper()
	rows, err := f.st.ResourceAudit(context.Background(), store.ScopeOf(f.ap.TenantID), "approval", f.ap.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Action == action {
			n++
		}
	}
	return n
}

func TestEscalatedNotePostedOnceAcrossFailures(t *testing.T) {
	eachDialect(t, 2*time.Second, func(t *testing.T, f *fixture) {
		f.cw.FailNext(2, http.StatusBadGateway)
		res, attempts := f.notifyUntilDone(t, activities.NotifyInput{Kind: activities.NotifyEscalated, Approval: contract.ApprovalOf(f.ap)})
		if res.Status != "sent" || attempts != 3 {
			t.Fatalf("want sent after 3 attempts, got %+v after %d", res, attempts)
		}
		rows, err := f.st.ListNotifications(context.Background(), store.ScopeOf(f.ap.TenantID), f.ap.ID)
		if err != nil {
			t.Fatal(err)
		}
		attemptsOf := map[string]int{}
		for _, n := range rows {
			attemptsOf[n.Key[strings.LastIndex(n.Key, ":")+1:]] = n.Attempts
			if n.Status != store.NotificationSent {
				t.Errorf("%s: %s", n.Key, n.Status)
			}
		}
		if attemptsOf["note"] != 3 || attemptsOf["label"] != 1 || attemptsOf["priority"] != 1 {
			t.Fatalf("attempts by step: %v, want the note's three counted", attemptsOf)
		}
		// A retry of a finished activity (e.g. the worker died before reporting).
		if _, err := f.out.Notify(context.Background(), activities.NotifyInput{Kind: activities.NotifyEscalated, Approval: contract.ApprovalOf(f.ap)}); err != nil {
			t.Fatal(err)
		}
		notes := f.notes(t, true)
		if len(notes) != 1 || !strings.Contains(notes[0].Content, "Escalated to CEO: Refund above limit") || !strings.Contains(notes[0].Content, f.ap.ID) {
			t.Fatalf("want exactly one escalation note with title and link, got %+v", notes)
		}
		if got := f.cw.Labels(1, 42); len(got) != 2 || got[0] != "vip" || got[1] != "escalated" {
			t.Fatalf("labels must be merged, got %v", got)
		}
		if p := f.cw.Priority(1, 42); p != "high" {
			t.Fatalf("priority: %q", p)
		}
		if v := f.cw.Violations(); len(v) != 0 {
			t.Fatalf("requests broke Chatwoot's API spec: %v", v)
		}
	})
}

// The message reached Chatwoot but the response never came back: the retry
// finds it by its echo id instead of posting it again.
func TestLostResponseIsReconciledNotReposted(t *testing.T) {
	eachDialect(t, 300*time.Millisecond, func(t *testing.T, f *fixture) {
		f.cw.HangNextAfterCommit(1, time.Second)
		in := activities.NotifyInput{Kind: activities.NotifyDecided, Approval: contract.ApprovalOf(decided(f.ap))}
		res, attempts := f.notifyUntilDone(t, in)
		if res.Status != "sent" || attempts < 2 {
			t.Fatalf("want sent after a timed-out attempt, got %+v after %d", res, attempts)
		}
		if n := len(f.notes(t, true)); n != 1 {
			t.Fatalf("want exactly one decision note, got %d", n)
		}
	})
}

func decided(ap store.Approval) store.Approval {
	who, name, comment := "ceo-1", "Casey CEO", "go ahead"
	ap.Status, ap.ApprovedBy, ap.ApprovedByName, ap.Comment = store.StatusApproved, &who, &name, &comment
	return ap
}

func TestPermanentFailuresAreAuditedAndNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(f *fixture)
	}{
		{"bad token", func(f *fixture) {
			f.out.Chatwoot = chatwoot.New(f.cw.URL(), "wrong-token", nil)
		}},
		{"unknown conversation", func(f *fixture) {
			f.ap.Conversation = &store.Conversation{AccountID: 1, ConversationID: 999}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDialect(t, 2*time.Second, func(t *testing.T, f *fixture) {
				tc.prep(f)
				in := activities.NotifyInput{Kind: activities.NotifyEscalated, Approval: contract.ApprovalOf(f.ap)}
				res, err := f.out.Notify(context.Background(), in)
				if err != nil {
					t.Fatalf("a permanent failure must not be retried: %v", err)
				}
				if res.Status != "failed" || res.Reason == "" {
					t.Fatalf("want failed with a reason, got %+v", res)
				}
				before := len(f.cw.Requests())
				if again, err := f.out.Notify(context.Background(), in); err != nil || again.Status != "failed" || again.Reason != res.Reason {
					t.Fatalf("second call: %+v %v, want failed with the recorded reason %q", again, err, res.Reason)
				}
				if after := len(f.cw.Requests()); after != before {
					t.Fatalf("a failed step was tried again (%d more requests)", after-before)
				}
				if n := f.audit(t, "chatwoot.failed"); n != 1 {
					t.Fatalf("want one chatwoot.failed audit entry, got %d", n)
				}
			})
		})
	}
}

func TestNotConfiguredIsSkippedAndAudited(t *testing.T) {
	f := newFixture(t, time.Second)
	f.out.Chatwoot = nil
	for i := 0; i < 2; i++ {
		res, err := f.out.Notify(context.Background(), activities.NotifyInput{Kind: activities.NotifyEscalated, Approval: contract.ApprovalOf(f.ap)})
		if err != nil || res.Status != "skipped" {
			t.Fatalf("want skipped, got %+v %v", res, err)
		}
	}
	if n := f.audit(t, "chatwoot.skipped"); n != 1 {
		t.Fatalf("want one chatwoot.skipped entry, got %d", n)
	}
}

func TestCustomerGetsJoinLinkWithValidToken(t *testing.T) {
	f := newFixture(t, time.Second)
	ap := decided(f.ap)
	cons := &contract.Consultation{ID: store.NewID(), JitsiRoom: "consult-abcdefghijklmnopqrstuvwxyz", Status: store.ConsultationScheduled, TenantID: ap.TenantID}
	res, err := f.out.Notify(context.Background(), activities.NotifyInput{Kind: activities.NotifyConsultation, Approval: contract.ApprovalOf(ap), Consultation: cons})
	if err != nil || res.Status != "sent" {
		t.Fatalf("%+v %v", res, err)
	}
	public := f.notes(t, false)
	if len(public) != 1 || public[0].MessageType != 1 {
		t.Fatalf("want one public outgoing message, got %+v", public)
	}
	i := strings.Index(public[0].Content, "https://meet.example.com/")
	if i < 0 {
		t.Fatalf("no join link in %q", public[0].Content)
	}
	link := strings.Fields(public[0].Content[i:])[0]
	u, err := url.Parse(link)
	if err != nil || u.Path != "/"+cons.JitsiRoom {
		t.Fatalf("link %q does not open the room", link)
	}
	tok, err := jwt.ParseSigned(u.Query().Get("jwt"), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		jwt.Claims
		Room    string `json:"room"`
		Context struct {
			User map[string]any `json:"user"`
		} `json:"context"`
	}
	if err := tok.Claims([]byte(jitsiSecret), &claims); err != nil {
		t.Fatalf("token does not verify with the app secret: %v", err)
	}
	if claims.Room != cons.JitsiRoom || claims.Issuer != "orchestrator" || claims.Expiry == nil ||
		claims.Expiry.Time().After(time.Now().Add(25*time.Hour)) || claims.Context.User["moderator"] == "true" {
		t.Fatalf("claims: %+v", claims)
	}
}
