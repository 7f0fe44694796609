package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/decision"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The policy's questions: GET shows the defaults in effect, PUT stores
// maxQuestions and answerTtl, new escalations copy them, and out-of-range
// values are refused field by field.
func TestPolicyQuestions(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		code, body := p.do(t, "GET", polSupport, "member", "")
		if v := decodePolicy(t, body); code != http.StatusOK || v.MaxQuestions != 5 || v.AnswerTTL != "48h" {
			t.Fatalf("default: %d %+v, want 5 questions and the default TTL for an answer", code, v)
		}
		code, body = p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"24h","maxTtl":"72h","maxQuestions":2,"answerTtl":"30m"}`)
		if v := decodePolicy(t, body); code != http.StatusOK || v.MaxQuestions != 2 || v.AnswerTTL != "30m" {
			t.Fatalf("PUT: %d %s", code, body)
		}
		code, body = p.do(t, "GET", polSupport, "member", "")
		if v := decodePolicy(t, body); code != http.StatusOK || v.MaxQuestions != 2 || v.AnswerTTL != "30m" {
			t.Fatalf("GET after PUT: %d %s", code, body)
		}
		got, err := p.s.policyFor(context.Background(), polSupport)
		if err != nil || got.Questions() != 2 || got.AnswerWait() != 30*time.Minute {
			t.Fatalf("policyFor: %+v %v", got, err)
		}
		// Left out: the defaults again, the answer's time following the
		// default TTL.
		code, body = p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"24h","maxTtl":"72h"}`)
		if v := decodePolicy(t, body); code != http.StatusOK || v.MaxQuestions != 5 || v.AnswerTTL != "24h" {
			t.Fatalf("PUT without them: %d %s", code, body)
		}
		for body, field := range map[string]string{
			`{"defaultTtl":"24h","maxTtl":"72h","maxQuestions":0}`:     "maxQuestions",
			`{"defaultTtl":"24h","maxTtl":"72h","maxQuestions":101}`:   "maxQuestions",
			`{"defaultTtl":"24h","maxTtl":"72h","answerTtl":"0s"}`:     "answerTtl",
			`{"defaultTtl":"24h","maxTtl":"72h","answerTtl":"-1h"}`:    "answerTtl",
			`{"defaultTtl":"24h","maxTtl":"72h","answerTtl":"100h"}`:   "answerTtl",
			`{"defaultTtl":"24h","maxTtl":"72h","answerTtl":"1.5s"}`:   "answerTtl",
			`{"defaultTtl":"24h","maxTtl":"72h","answerTtl":"soon"}`:   "answerTtl",
			`{"defaultTtl":"24h","maxTtl":"72h","maxQuestions":"two"}`: "",
		} {
			code, b := p.do(t, "PUT", polSupport, "approver", body)
			pr := decodeProblem(t, b)
			if code != http.StatusBadRequest || (field != "" && (len(pr.Errors) != 1 || pr.Errors[0].Field != field)) {
				t.Errorf("%s: %d %s, want 400 naming %s", body, code, b, field)
			}
		}
	})
}

// Once an escalation's deadline has passed, the decision authority refuses
// a decision, a withdrawal and a question with 409 expired, though the
// workflow (here: none) has not ended it yet; an escalation waiting for an
// answer has its deadline paused.
func TestNothingIsTakenAfterTheDeadline(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		past := p.store.Now().Add(-time.Minute)
		record := func(status string) string {
			ap := &store.Approval{ID: store.NewID(), TenantID: polSupport, Title: "Refund", Status: status, Priority: store.PriorityHigh,
				RequestedBy: "agent-1", Metadata: store.JSON(`{}`), ExpiresAt: &past}
			if _, _, err := p.store.RecordApproval(context.Background(), ap, nil); err != nil {
				t.Fatal(err)
			}
			return ap.ID
		}
		send := func(method, path, token, body string) (int, Problem) {
			r := httptest.NewRequest(method, path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			p.h.ServeHTTP(rec, r)
			var pr Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &pr)
			return rec.Code, pr
		}
		id := record(store.StatusPending)
		for _, c := range []struct{ method, path, token, body string }{
			{"PATCH", "/api/approvals/" + id, "approver", `{"status":"approved"}`},
			{"POST", "/api/approvals/" + id + "/withdraw", "member", `{}`},
			{"POST", "/api/approvals/" + id + "/request-info", "approver", `{"question":"Which order?"}`},
		} {
			if code, pr := send(c.method, c.path, c.token, c.body); code != http.StatusConflict || pr.Code != "expired" {
				t.Errorf("%s %s: %d %+v, want 409 expired", c.method, c.path, code, pr)
			}
		}
		// Not the caller's to decide: that answer comes first.
		if code, pr := send("PATCH", "/api/approvals/"+id, "member", `{"status":"approved"}`); code != http.StatusForbidden {
			t.Errorf("a member deciding: %d %+v, want 403", code, pr)
		}
		// Waiting for an answer: the deadline waits too; the request goes
		// on to the workflow (none here: 503).
		asked := record(store.StatusInfoRequested)
		if code, pr := send("POST", "/api/approvals/"+asked+"/provide-info", "member", `{"answer":"Order 42"}`); code == http.StatusConflict {
			t.Errorf("an answer while the deadline is paused: %d %+v", code, pr)
		}
	})
}

// The workflow's refusals and the authority's become their 409 codes in the
// one mapping.
func TestRefusalCodes(t *testing.T) {
	for err, code := range map[error]string{
		temporal.NewApplicationError("asked enough", contract.ErrTypeTooManyQuestions):   "too_many_questions",
		temporal.NewApplicationError("the deadline has passed", contract.ErrTypeExpired): "expired",
		fmt.Errorf("decide: %w", decision.ErrExpired):                                    "expired",
	} {
		if he := toHTTPError(err); he.status != http.StatusConflict || he.code != code {
			t.Errorf("%v: %d %s, want 409 %s", err, he.status, he.code, code)
		}
	}
}
