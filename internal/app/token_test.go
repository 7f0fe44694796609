package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/app"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// The README's flow: `orchestrator token` prints only a token, which the
// running dev stack accepts with the identity, groups and roles asked for.
func TestTokenCommandAgainstTheDevStack(t *testing.T) {
	env := newEnv(t, storetest.URL(t, store.SQLite))
	s := startStack(t, env)
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	mint := func(args ...string) string {
		var out bytes.Buffer
		if err := app.RunWithEnv(context.Background(), append([]string{"token"}, args...), getenv, &out, io.Discard); err != nil {
			t.Fatalf("token %v: %v", args, err)
		}
		tok := strings.TrimSpace(out.String())
		if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
			t.Fatalf("token must print only a JWT, got %q", out.String())
		}
		return tok
	}
	agent := mint("--sub", "agent-1", "--name", "Alex Agent", "--group", "/teams/support")
	ceo := mint("--sub", "ceo-1", "--name", "Casey CEO", "--group", "/teams/support", "--role", "approver", "--ttl", "10m")
	me := s.do("GET", "/api/me", agent, nil).json(t)
	if me["sub"] != "agent-1" || me["name"] != "Alex Agent" || len(me["tenants"].([]any)) != 2 {
		t.Fatalf("/api/me: %v", me)
	}
	id := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "From the README"}).json(t)["id"].(string)
	if r := s.do("PATCH", "/api/approvals/"+id, agent, map[string]any{"status": "approved"}); r.status != http.StatusForbidden {
		t.Fatalf("agent self-approval: want 403, got %d", r.status)
	}
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("CEO approval: %d %s", r.status, r.body)
	}
	if err := app.RunWithEnv(context.Background(), []string{"token"}, getenv, io.Discard, io.Discard); err == nil {
		t.Fatal("token without --sub must fail")
	}
}
