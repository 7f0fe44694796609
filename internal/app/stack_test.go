package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/app"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// devServer is the Temporal dev server shared by this package's tests.
var devServer *testsuite.DevServer

// historySuggestion is the history length at which devServer suggests a
// workflow continue as new.
const historySuggestion = 300

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	cli := os.Getenv("TEMPORAL_CLI")
	if cli == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "TEMPORAL_CLI is not set: run the tests through `make test`, which builds the Temporal CLI")
			return 1
		}
		fmt.Fprintln(os.Stderr, "SKIPPING end-to-end tests: TEMPORAL_CLI is not set (use `make test`)")
		return 0
	}
	// Eager activity execution on, as the dev server of `orchestrator dev`
	// and the compose server run it.
	// A history of historySuggestion events is suggested to continue as
	// new (4,096 by default): low, so that a question loop of a few rounds
	// shows the escalation continuing as new on a real server.
	extra := []string{"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", historySuggestion)}
	for _, n := range contract.SearchAttributeNames() {
		extra = append(extra, "--search-attribute", n+"=Keyword")
	}
	var err error
	devServer, err = testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{
		ExistingPath: cli, LogLevel: "error", ExtraArgs: extra, Stdout: io.Discard, Stderr: io.Discard,
		ClientOptions: &client.Options{Namespace: "default", Logger: quietLogger{}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start Temporal dev server:", err)
		return 1
	}
	defer devServer.Stop()
	return m.Run()
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// stack is one `orchestrator dev` process run in-process.
type stack struct {
	t      testing.TB
	env    map[string]string
	base   string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv is the configuration of a stack on the shared dev server.
func newEnv(t testing.TB, databaseURL string) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"TEMPORAL_ADDRESS":    devServer.FrontendHostPort(),
		"TEMPORAL_TASK_QUEUE": "e2e-" + filepath.Base(dir),
		"DATABASE_URL":        databaseURL,
		"HTTP_ADDR":           rig.MustFreeAddr(t),
		"DEV_ISSUER_ADDR":     rig.MustFreeAddr(t),
		"DATA_DIR":            dir,
		"LOG_LEVEL":           "warn",
		"SHUTDOWN_GRACE":      "2s",
	}
}

func startStack(t testing.TB, env map[string]string) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{t: t, env: env, base: "http://" + env["HTTP_ADDR"], cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() { s.done <- app.RunWithEnv(ctx, []string{"dev"}, getenv, io.Discard, s.logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-s.done:
			t.Fatalf("stack exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("stack did not come up\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *stack) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("stack stopped with error: %v", err)
		}
	case <-time.After(15 * time.Second):
		s.t.Errorf("stack did not stop")
	}
}

// token mints a token exactly as `orchestrator token` does.
func (s *stack) token(sub string, groups []string, roles ...string) string {
	s.t.Helper()
	iss, err := devissuer.Open(s.env["DATA_DIR"], "http://"+s.env["DEV_ISSUER_ADDR"], "orchestrator-api")
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := iss.Mint(devissuer.MintOptions{Subject: sub, Name: strings.ToUpper(sub), Groups: groups, Roles: roles})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (s *stack) do(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	// Every response of the end-to-end tests must match the API contract.
	doc, err := openAPI()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := doc.ValidateHTTPResponse(method, path, r.status, r.header, r.body); err != nil {
		s.t.Errorf("%s %s: response does not match api/openapi.json: %v", method, path, err)
	}
	return r
}

var openAPI = sync.OnceValues(func() (*openapitest.Doc, error) { return openapitest.Load(api.OpenAPIDocument()) })
