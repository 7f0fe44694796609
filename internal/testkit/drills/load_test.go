package drills

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// agents are the requesters; decider is the approver (never a requester).
const (
	agents  = 8
	decider = "ceo-1"
)

// escalation is one escalation a drill's clients drive: created with an
// Idempotency-Key, then decided. Every one is tied to its own Chatwoot
// conversation, so every one produces Chatwoot messages.
type escalation struct {
	n     int
	key   string
	conv  int
	agent string
	want  string // approved, rejected, or expired (never decided)
	// expiresAt, when set, is the deadline the create asks for; reminders
	// is how many reminders the escalation must have sent when it ends.
	expiresAt time.Time
	reminders int

	mu        sync.Mutex
	id        string
	createdAt time.Time // as the 201 said
	// firstCreate and firstDecide are when the clients first sent each.
	firstCreate, firstDecide time.Time
	decidedAt                time.Time // when the decision was answered 200
	createErr                error
	decideErr                error
	creates                  int // attempts
	decides                  int
}

// decidedBy is who the approval must say decided it.
func (e *escalation) decidedBy() string {
	if e.want == "expired" {
		return ""
	}
	return decider
}

func (e *escalation) ID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id
}

// newEscalations returns n escalations numbered from first: a third are
// rejected, the rest approved.
func newEscalations(first, n int) []*escalation {
	out := make([]*escalation, n)
	for i := range out {
		k := first + i
		want := "approved"
		if k%3 == 2 {
			want = "rejected"
		}
		out[i] = &escalation{n: k, key: fmt.Sprintf("drill-%d", k), conv: 1000 + k, agent: fmt.Sprintf("agent-%d", k%agents), want: want}
	}
	return out
}

// driver is the drill's clients: it sends requests to the api processes
// bases returns, retrying connection errors and 5xx answers with the same
// Idempotency-Key, and counts what it saw.
type driver struct {
	t      testing.TB
	c      *cluster
	hc     *http.Client
	bases  func() []string
	tokens map[string]string

	connErrors atomic.Int64
	requests   atomic.Int64
	// begun and finished count escalations the clients started and are
	// done with; the difference is what is in flight.
	begun, finished atomic.Int64
	// pending is how long flow leaves an escalation pending before deciding.
	pending    time.Duration
	mu         sync.Mutex
	serverErrs map[string]int // "POST /api/approvals 503 unavailable" → count
	samples    []string
}

func newDriver(t testing.TB, c *cluster, bases func() []string) *driver {
	d := &driver{
		t: t, c: c, bases: bases, tokens: map[string]string{}, serverErrs: map[string]int{},
		hc: &http.Client{
			// Above the API's own 30 s request budget, so its 503 arrives.
			Timeout:   45 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	}
	for i := range agents {
		sub := fmt.Sprintf("agent-%d", i)
		d.tokens[sub] = c.token(sub)
	}
	d.tokens[decider] = c.token(decider, "approver")
	return d
}

// session is one client goroutine: it sticks to one api until a connection
// error sends it to the next (the other one, when there are two).
type session struct{ idx int }

func (d *driver) base(s *session) string {
	b := d.bases()
	return b[s.idx%len(b)]
}

type answer struct {
	status int
	body   []byte
}

// send makes one request. A transport error (refused, reset, timed out) moves
// the session to the next api and is returned as err.
func (d *driver) send(ctx context.Context, s *session, method, path, sub string, body any, idemKey string) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	base := d.base(s)
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+d.tokens[sub])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	d.requests.Add(1)
	resp, err := d.hc.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			if resp.StatusCode >= 500 {
				d.serverError(method, path, resp.StatusCode, b)
			}
			return answer{resp.StatusCode, b}, nil
		}
	}
	if ctx.Err() == nil {
		d.connErrors.Add(1)
		s.idx++
	}
	return answer{}, fmt.Errorf("%s %s%s: %w", method, base, path, err)
}

func (d *driver) serverError(method, path string, status int, body []byte) {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	route := path
	if strings.HasPrefix(path, "/api/approvals/") {
		route = "/api/approvals/:id"
	}
	k := fmt.Sprintf("%s %s %d %s", method, route, status, p.Code)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.serverErrs[k]++
	if len(d.samples) < 5 {
		d.samples = append(d.samples, fmt.Sprintf("%s %s → %d %s", method, path, status, truncate(string(body), 300)))
	}
}

// serverErrors returns the 5xx answers seen, by route, status and code.
func (d *driver) serverErrors() (total int, byKind string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := make([]string, 0, len(d.serverErrs))
	for k, n := range d.serverErrs {
		keys = append(keys, fmt.Sprintf("%s ×%d", k, n))
		total += n
	}
	sort.Strings(keys)
	return total, strings.Join(keys, "; ")
}

func (d *driver) report() {
	n, kinds := d.serverErrors()
	d.t.Logf("clients: %d requests, %d connection errors, %d 5xx answers [%s]", d.requests.Load(), d.connErrors.Load(), n, kinds)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.samples {
		d.t.Logf("  5xx sample: %s", s)
	}
}

// inFlight is the number of escalations the clients are working on.
func (d *driver) inFlight() int64 { return d.begun.Load() - d.finished.Load() }

// background runs load in a goroutine; wait blocks until it is done.
func background(load func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		load()
	}()
	return func() { <-done }
}

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond
	for i := 1; i < attempt && d < 2*time.Second; i++ {
		d = d * 3 / 2
	}
	return min(d, 2*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type approvalDoc struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Title        string     `json:"title"`
	RequestedBy  string     `json:"requestedBy"`
	ApprovedBy   string     `json:"approvedBy"`
	CreatedAt    time.Time  `json:"createdAt"`
	ExpiresAt    *time.Time `json:"expiresAt"`
	Conversation *struct {
		AccountID      int `json:"accountId"`
		ConversationID int `json:"conversationId"`
	} `json:"conversation"`
}

func title(e *escalation) string { return fmt.Sprintf("Drill escalation %d", e.n) }

// create posts the escalation until an api answers 201, always with the same
// Idempotency-Key.
func (d *driver) create(ctx context.Context, s *session, e *escalation) error {
	prio := []string{"low", "medium", "high"}[e.n%3]
	body := map[string]any{
		"tenantId": tenant, "title": title(e), "description": "fault drill", "priority": prio,
		"conversation": map[string]any{"accountId": chatwootAcct, "conversationId": e.conv},
	}
	if !e.expiresAt.IsZero() {
		body["expiresAt"] = e.expiresAt.UTC().Format(time.RFC3339Nano)
	}
	var last error
	for attempt := 1; ; attempt++ {
		e.mu.Lock()
		if e.creates++; e.creates == 1 {
			e.firstCreate = time.Now()
		}
		e.mu.Unlock()
		a, err := d.send(ctx, s, http.MethodPost, "/api/approvals", e.agent, body, e.key)
		switch {
		case err != nil:
			last = err
		case a.status == http.StatusCreated:
			var ap approvalDoc
			if err := json.Unmarshal(a.body, &ap); err != nil || ap.ID == "" {
				return fmt.Errorf("create #%d: 201 without an approval: %s", e.n, a.body)
			}
			if ap.Title != title(e) || ap.RequestedBy != e.agent || ap.Conversation == nil || ap.Conversation.ConversationID != e.conv {
				return fmt.Errorf("create #%d: 201 with another escalation: %s", e.n, a.body)
			}
			e.mu.Lock()
			e.id, e.createdAt = ap.ID, ap.CreatedAt
			e.mu.Unlock()
			return nil
		case a.status >= 500:
			last = fmt.Errorf("%d %s", a.status, truncate(string(a.body), 200))
		default:
			return fmt.Errorf("create #%d: unexpected %d %s", e.n, a.status, truncate(string(a.body), 300))
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return fmt.Errorf("create #%d never answered 201 (%d attempts; last: %v)", e.n, attempt, last)
		}
	}
}

// decide sends the decision until an api answers 200, or 409 for a decision
// an earlier attempt already applied (checked by reading the approval).
func (d *driver) decide(ctx context.Context, s *session, e *escalation) error {
	id := e.ID()
	var last error
	for attempt := 1; ; attempt++ {
		e.mu.Lock()
		if e.decides++; e.decides == 1 {
			e.firstDecide = time.Now()
		}
		e.mu.Unlock()
		a, err := d.send(ctx, s, http.MethodPatch, "/api/approvals/"+id, decider,
			map[string]any{"status": e.want, "comment": "drill decision"}, "decide-"+e.key)
		switch {
		case err != nil:
			last = err
		case a.status == http.StatusOK:
			var ap approvalDoc
			if err := json.Unmarshal(a.body, &ap); err != nil || ap.Status != e.want || ap.ApprovedBy != decider {
				return fmt.Errorf("decide #%d: 200 with %s", e.n, truncate(string(a.body), 300))
			}
			e.mu.Lock()
			e.decidedAt = time.Now()
			e.mu.Unlock()
			return nil
		case a.status == http.StatusConflict:
			ap, err := d.get(ctx, s, id)
			if err != nil {
				return fmt.Errorf("decide #%d: 409, then %v", e.n, err)
			}
			if ap.Status != e.want || ap.ApprovedBy != decider {
				return fmt.Errorf("decide #%d: 409 %s and the approval is %s by %q, not %s by %s",
					e.n, truncate(string(a.body), 200), ap.Status, ap.ApprovedBy, e.want, decider)
			}
			return nil // an earlier attempt got through
		case a.status >= 500:
			last = fmt.Errorf("%d %s", a.status, truncate(string(a.body), 200))
		default:
			return fmt.Errorf("decide #%d: unexpected %d %s", e.n, a.status, truncate(string(a.body), 300))
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return fmt.Errorf("decide #%d never answered (%d attempts; last: %v)", e.n, attempt, last)
		}
	}
}

func (d *driver) get(ctx context.Context, s *session, id string) (*approvalDoc, error) {
	for attempt := 1; ; attempt++ {
		a, err := d.send(ctx, s, http.MethodGet, "/api/approvals/"+id, decider, nil, "")
		if err == nil && a.status == http.StatusOK {
			var ap approvalDoc
			if err := json.Unmarshal(a.body, &ap); err != nil {
				return nil, err
			}
			return &ap, nil
		}
		if err == nil && a.status < 500 {
			return nil, fmt.Errorf("GET approval %s: %d %s", id, a.status, a.body)
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return nil, fmt.Errorf("GET approval %s: no answer: %v", id, err)
		}
	}
}

// createAll creates es with n client goroutines; creation i does not start
// before spread*i/len(es), so that the load covers the fault window.
func (d *driver) createAll(ctx context.Context, es []*escalation, n int, spread time.Duration) {
	d.run(ctx, es, n, spread, false)
}

// decideAll decides es (all created) with n client goroutines.
func (d *driver) decideAll(ctx context.Context, es []*escalation, n int) {
	var wg sync.WaitGroup
	next := make(chan *escalation, len(es))
	for _, e := range es {
		if e.ID() != "" {
			next <- e
		}
	}
	close(next)
	for i := range n {
		wg.Go(func() {
			s := &session{idx: i}
			for e := range next {
				d.begun.Add(1)
				if err := d.decide(ctx, s, e); err != nil {
					e.mu.Lock()
					e.decideErr = err
					e.mu.Unlock()
				}
				d.finished.Add(1)
			}
		})
	}
	wg.Wait()
}

// flow creates and decides es concurrently: half of the n clients create
// (paced over spread), the other half decide each escalation pending
// (decisions arrive pending after its creation), so that escalations stay in
// flight while the drill breaks things.
func (d *driver) flow(ctx context.Context, es []*escalation, n int, spread, pending time.Duration) {
	d.pending = pending
	d.run(ctx, es, n, spread, true)
}

func (d *driver) run(ctx context.Context, es []*escalation, n int, spread time.Duration, decide bool) {
	creators, deciders := n, 0
	if decide {
		deciders = max(n/2, 1)
		creators = max(n-deciders, 1)
	}
	start := time.Now()
	todo := make(chan int, len(es))
	for i := range es {
		todo <- i
	}
	close(todo)
	type createdAt struct {
		e  *escalation
		at time.Time
	}
	created := make(chan createdAt, len(es))
	var cw, dw sync.WaitGroup
	for c := range creators {
		cw.Go(func() {
			s := &session{idx: c}
			for i := range todo {
				if !sleepCtx(ctx, time.Until(start.Add(spread*time.Duration(i)/time.Duration(len(es))))) {
					es[i].mu.Lock()
					es[i].createErr = fmt.Errorf("create #%d: the load ran out of time before it started", es[i].n)
					es[i].mu.Unlock()
					continue
				}
				d.begun.Add(1)
				if err := d.create(ctx, s, es[i]); err != nil {
					es[i].mu.Lock()
					es[i].createErr = err
					es[i].mu.Unlock()
					d.finished.Add(1)
					continue
				}
				if !decide {
					d.finished.Add(1)
					continue
				}
				created <- createdAt{es[i], time.Now()}
			}
		})
	}
	for c := range deciders {
		dw.Go(func() {
			s := &session{idx: creators + c}
			for ce := range created {
				e := ce.e
				sleepCtx(ctx, time.Until(ce.at.Add(d.pending)))
				if err := d.decide(ctx, s, e); err != nil {
					e.mu.Lock()
					e.decideErr = err
					e.mu.Unlock()
				}
				d.finished.Add(1)
			}
		})
	}
	cw.Wait()
	close(created)
	dw.Wait()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
