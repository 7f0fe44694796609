package chatwoottest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
)

// Delivery is one webhook delivery attempt. Chatwoot does not retry account
// webhooks, and neither does the stand-in.
type Delivery struct {
	Event      string
	DeliveryID string
	Body       []byte
	Header     http.Header
	// Status is the receiver's HTTP status, 0 when the request failed (Err).
	Status int
	Err    string
}

// webhookSender delivers webhooks one at a time, in the order they were
// produced, from its own goroutine so that API calls never wait on the
// receiver.
type webhookSender struct {
	client *http.Client

	mu         sync.Mutex
	cond       *sync.Cond
	url        string
	secret     string
	queue      []pending
	deliveries []Delivery
	closed     bool
	busy       bool
	done       chan struct{}
}

type pending struct {
	event  string
	body   []byte
	url    string
	secret string
}

func newWebhookSender() *webhookSender {
	w := &webhookSender{client: &http.Client{Timeout: 5 * time.Second}, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

func (w *webhookSender) configure(url, secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.url, w.secret = url, secret
}

// send queues a delivery if a URL is configured.
func (w *webhookSender) send(event string, payload map[string]any) {
	body, err := json.Marshal(payload)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.url == "" || w.closed {
		return
	}
	w.queue = append(w.queue, pending{event: event, body: body, url: w.url, secret: w.secret})
	w.cond.Broadcast()
}

func (w *webhookSender) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		p := w.queue[0]
		w.queue = w.queue[1:]
		w.busy = true
		w.mu.Unlock()

		d := w.deliver(p)

		w.mu.Lock()
		w.deliveries = append(w.deliveries, d)
		w.busy = false
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

func (w *webhookSender) deliver(p pending) Delivery {
	id := newUUID()
	d := Delivery{Event: p.event, DeliveryID: id, Body: p.body}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		d.Err = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Chatwoot-Webhook")
	req.Header.Set(chatwoot.HeaderDelivery, id)
	if p.secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(chatwoot.HeaderTimestamp, ts)
		req.Header.Set(chatwoot.HeaderSignature, chatwoot.Sign(p.secret, ts, p.body))
	}
	d.Header = req.Header.Clone()
	resp, err := w.client.Do(req)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}

func (w *webhookSender) list() []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.deliveries)
}

// wait blocks until the queue is empty and nothing is in flight.
func (w *webhookSender) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for (len(w.queue) > 0 || w.busy) && !w.closed {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("chatwoottest: waiting for webhooks: %w", err)
		}
		w.cond.Wait()
	}
	return nil
}

func (w *webhookSender) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}

// WaitWebhooks blocks until every queued webhook has been delivered (or has
// failed), or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error { return s.hooks.wait(ctx) }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
