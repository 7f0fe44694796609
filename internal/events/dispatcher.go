package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Outcomes of an attempt, as metrics and logs name them.
const (
	OutcomeDelivered = "delivered" // 2xx
	OutcomeRetry     = "retry"     // anything else, with a retry left
	OutcomeFailed    = "failed"    // anything else, after the last retry
	OutcomeGone      = "gone"      // 410: the subscription is disabled
)

// Why a delivery loop ended for good (DeliverResult.Ended).
const (
	EndedDisabled = "disabled"
	EndedDeleted  = "deleted"
	EndedGone     = "gone"
)

// Metrics is what the dispatcher reports (telemetry.EventMetrics); nil
// reports nothing.
type Metrics interface {
	DeliveryAttempt(outcome string, took time.Duration)
	// PendingSince says when the oldest pending delivery of a subscription
	// was queued (nil: none is pending, or the loop ended).
	PendingSince(subscriptionID string, since *time.Time)
}

// Defaults of the loop.
const (
	DefaultPoll        = time.Second
	DefaultRunFor      = 3 * time.Minute
	DefaultBatch       = 50
	DefaultConcurrency = 4
	DefaultGather      = 50 * time.Millisecond
	// DefaultRetention is EVENTS_RETENTION's default; DefaultPruneEvery how
	// often a loop deletes what is older.
	DefaultRetention  = 30 * 24 * time.Hour
	DefaultPruneEvery = 10 * time.Minute
	// A prune deletes at most pruneBatch rows a statement and pruneBatches
	// statements a table: short transactions, and a bounded pass; a long
	// history goes over several passes.
	pruneBatch   = 500
	pruneBatches = 10
	// excerptBytes is what an attempt keeps of the receiver's answer.
	excerptBytes = 1024
)

// Dispatcher sends a subscription's deliveries; its Deliver method is the
// activity the delivery workflow runs.
type Dispatcher struct {
	Store  *store.Store
	Client *http.Client
	// Schedule are the delays after each failed attempt: len(Schedule)+1
	// attempts in all (EVENTS_RETRY_SCHEDULE).
	Schedule []time.Duration
	// AttemptTimeout bounds one attempt, answer included (EVENTS_ATTEMPT_TIMEOUT).
	AttemptTimeout time.Duration
	Wake           *Waker
	Metrics        Metrics
	Log            *slog.Logger
	// Poll is how often an idle loop looks for due deliveries queued by
	// another process; RunFor how long one activity runs before handing
	// back to the workflow; Batch how many deliveries one pass claims;
	// Concurrency how many it sends at once. Zero takes the default.
	Poll, RunFor       time.Duration
	Batch, Concurrency int
	// Gather is the least time between two passes woken by the store's
	// hook (zero: DefaultGather; negative: none).
	Gather time.Duration
	// Lease is how long a claimed delivery stays out of other claims
	// (zero: twice AttemptTimeout plus 5 s).
	Lease time.Duration
	// Retention is how long the subscription's finished deliveries (and the
	// tenant's events no delivery holds any more) are kept
	// (EVENTS_RETENTION; zero: DefaultRetention); PruneEvery how often the
	// loop deletes what is older (zero: DefaultPruneEvery).
	Retention, PruneEvery time.Duration
}

// DeliverInput names the subscription a loop delivers to.
type DeliverInput struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
}

// DeliverResult is what one run of the loop did, and whether the
// subscription is done with (Ended: disabled, deleted or gone).
type DeliverResult struct {
	Attempts int    `json:"attempts"`
	Ended    string `json:"ended,omitempty"`
}

func (d *Dispatcher) poll() time.Duration { return orDefault(d.Poll, DefaultPoll) }

func (d *Dispatcher) runFor() time.Duration { return orDefault(d.RunFor, DefaultRunFor) }

func (d *Dispatcher) timeout() time.Duration { return orDefault(d.AttemptTimeout, 10*time.Second) }

// lease is how long a claimed delivery stays out of other claims: long
// enough for its attempt, short enough that a dispatcher that died is
// replaced and the delivery resent soon.
func (d *Dispatcher) lease() time.Duration { return orDefault(d.Lease, 2*d.timeout()+5*time.Second) }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Deliver is the loop: claim what is due, send it, record every attempt,
// then wait for a nudge (Waker) or the next poll; it returns after RunFor
// so the workflow's history stays small, or when the subscription is
// disabled or deleted. It heartbeats throughout: a loop whose worker died
// is restarted elsewhere within the heartbeat timeout, and deliveries it
// had claimed are sent again once their lease has passed.
func (d *Dispatcher) Deliver(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	var res DeliverResult
	wake, stop := d.Wake.listen(in.SubscriptionID)
	defer stop()
	defer d.pendingSince(in.SubscriptionID, nil)
	until := time.Now().Add(d.runFor())
	var (
		gauged, subAt, passAt time.Time
		sub                   *store.Subscription
	)
	// The first prune comes at a random point within PruneEvery: a run
	// (RunFor, 3 minutes by default) is shorter than PruneEvery, so each
	// loop prunes about once every PruneEvery on average with no state kept
	// between runs, and the loops a worker starts together do not all prune
	// at once.
	pruneAt := time.Now().Add(rand.N(d.pruneEvery()))
	for {
		heartbeat(ctx, res)
		// The subscription is read again at most once a second: a change
		// (disabled, deleted, a new secret) applies within that.
		if sub == nil || time.Since(subAt) > time.Second {
			var err error
			sub, err = d.Store.SubscriptionForDelivery(ctx, in.TenantID, in.SubscriptionID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				res.Ended = EndedDeleted
				return res, nil
			case err != nil:
				return res, err
			case !sub.Enabled:
				res.Ended = EndedDisabled
				return res, nil
			}
			subAt = time.Now()
		}
		passAt = time.Now()
		batch := orDefault(d.Batch, DefaultBatch)
		due, err := d.Store.ClaimDueDeliveries(ctx, in.TenantID, in.SubscriptionID, batch, d.lease())
		if err != nil {
			return res, err
		}
		if len(due) > 0 {
			n, gone, err := d.send(ctx, sub, due)
			res.Attempts += n
			if err != nil {
				return res, err
			}
			if gone {
				res.Ended = EndedGone
				return res, nil
			}
		}
		if time.Since(gauged) > 10*time.Second && d.Metrics != nil {
			oldest, err := d.Store.OldestPendingDelivery(ctx, in.TenantID, in.SubscriptionID)
			if err == nil {
				d.pendingSince(in.SubscriptionID, oldest)
				gauged = time.Now()
			}
		}
		if time.Now().After(pruneAt) {
			d.prune(ctx, in)
			pruneAt = time.Now().Add(d.pruneEvery())
		}
		if time.Now().After(until) {
			return res, nil
		}
		if len(due) == batch {
			continue // more is waiting
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-workerStop(ctx):
			return res, nil // hand back: the next run goes to a worker that stays
		case <-wake:
			// Events committed in a burst wake the loop once each: a
			// pass at most every Gather takes them together, in one
			// claim and one record, rather than a pair of writes each.
			if wait := orDefault(d.Gather, DefaultGather) - time.Since(passAt); wait > 0 {
				select {
				case <-ctx.Done():
					return res, ctx.Err()
				case <-time.After(wait):
				}
			}
		case <-time.After(d.poll()):
		}
	}
}

func (d *Dispatcher) pruneEvery() time.Duration {
	return max(orDefault(d.PruneEvery, DefaultPruneEvery), time.Millisecond) // rand.N needs more than zero
}

// prune deletes the subscription's deliveries finished before the
// retention, with their attempts, and then the tenant's events older than
// that which no delivery references: a pending delivery and its event stay.
// It runs here, where the tenant is known, because row-level security lets
// no query reach across tenants. A disabled subscription has no loop, so
// its history stays until it is enabled again or deleted (which takes its
// deliveries with it). A failure is logged, not returned: delivering
// matters more, and the next prune tries again.
func (d *Dispatcher) prune(ctx context.Context, in DeliverInput) {
	before := d.Store.Now().Add(-orDefault(d.Retention, DefaultRetention))
	p, err := d.Store.PruneEventDeliveries(ctx, in.TenantID, in.SubscriptionID, before, pruneBatch, pruneBatches)
	if d.Log == nil {
		return
	}
	switch {
	case err != nil && ctx.Err() == nil:
		d.Log.Warn("pruning event deliveries failed", "subscription", in.SubscriptionID, "tenant", in.TenantID, "error", err)
	case p.Deliveries > 0 || p.Events > 0:
		d.Log.Debug("pruned event deliveries", "subscription", in.SubscriptionID, "tenant", in.TenantID,
			"deliveries", p.Deliveries, "events", p.Events, "before", before)
	}
}

func (d *Dispatcher) pendingSince(sub string, t *time.Time) {
	if d.Metrics != nil {
		d.Metrics.PendingSince(sub, t)
	}
}

// workerStop is closed when the worker running the loop stops (nil, which
// never fires, outside an activity).
func workerStop(ctx context.Context) <-chan struct{} {
	if activity.IsActivity(ctx) {
		return activity.GetWorkerStopChannel(ctx)
	}
	return nil
}

func heartbeat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}

// send delivers a claimed batch: deliveries of one resource one after the
// other, in order (a receiver sees an approval's events in sequence unless
// one of them has to be retried), different resources concurrently. When a
// delivery of a resource is not delivered, the ones after it in the batch
// wait for its retry. A 410 stops the batch: the subscription is disabled.
// Every attempt of the batch is recorded at its end, in one transaction; a
// loop stopped before that records nothing, and the deliveries it sent go
// again once their lease has passed (at least once, same webhook-id). It
// returns the attempts recorded.
func (d *Dispatcher) send(ctx context.Context, sub *store.Subscription, due []store.DueDelivery) (int, bool, error) {
	var groups [][]store.DueDelivery
	index := map[string]int{}
	for _, dd := range due {
		k := dd.Resource + "\x00" + dd.ResourceID
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], dd)
	}
	var (
		mu       sync.Mutex
		outcomes []store.AttemptOutcome
		sent     []sentMeta
		deferred []store.Deferral
		gone     bool
		wg       sync.WaitGroup
	)
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return gone || ctx.Err() != nil
	}
	work := make(chan []store.DueDelivery)
	for range min(orDefault(d.Concurrency, DefaultConcurrency), len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for i, dd := range g {
					if stopped() {
						break
					}
					o, a := d.deliver(ctx, sub, dd)
					if ctx.Err() != nil {
						// Cut short by us (worker stopping, heartbeat
						// lost), not by the receiver: not recorded.
						break
					}
					mu.Lock()
					outcomes, sent = append(outcomes, o), append(sent, sentMeta{took: a.took, webhookID: dd.EventID})
					gone = gone || o.DisableSubscription != ""
					if o.Status != store.DeliveryDelivered && i+1 < len(g) {
						// The rest of this resource waits for this one's retry.
						rest := make([]string, 0, len(g)-i-1)
						for _, r := range g[i+1:] {
							rest = append(rest, r.ID)
						}
						at := d.Store.Now()
						if o.NextAttemptAt != nil {
							at = *o.NextAttemptAt
						}
						deferred = append(deferred, store.Deferral{IDs: rest, At: at})
					}
					mu.Unlock()
					if o.Status != store.DeliveryDelivered {
						break
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, g := range groups {
			work <- g
		}
		close(work)
		wg.Wait()
	}()
	// The loop's goroutine heartbeats while the batch is under way: each
	// attempt is bounded, so the batch ends.
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			mu.Lock()
			n := len(outcomes)
			mu.Unlock()
			heartbeat(ctx, DeliverResult{Attempts: n})
		}
	}
	if ctx.Err() != nil {
		return 0, false, ctx.Err()
	}
	recorded, err := d.Store.RecordDeliveryPass(ctx, sub.TenantID, outcomes, deferred)
	if err != nil {
		return 0, false, err
	}
	n := 0
	for i, o := range outcomes {
		if !recorded[i] {
			continue
		}
		n++
		outcome := outcomeOf(o)
		if d.Metrics != nil {
			d.Metrics.DeliveryAttempt(outcome, sent[i].took)
		}
		if d.Log != nil && outcome != OutcomeDelivered {
			status := 0
			if o.StatusCode != nil {
				status = *o.StatusCode
			}
			d.Log.Warn("event delivery attempt not delivered", "subscription", sub.ID, "tenant", sub.TenantID, "delivery", o.DeliveryID,
				"webhook_id", sent[i].webhookID, "attempt", o.Attempt, "outcome", outcome, "status", status, "error", o.Error)
		}
	}
	return n, gone, nil
}

// sentMeta is what the metrics and logs of an attempt need beyond its outcome.
type sentMeta struct {
	took      time.Duration
	webhookID string
}

// outcomeOf names what an attempt left its delivery in.
func outcomeOf(o store.AttemptOutcome) string {
	switch {
	case o.DisableSubscription != "":
		return OutcomeGone
	case o.Status == store.DeliveryDelivered:
		return OutcomeDelivered
	case o.Status == store.DeliveryPending:
		return OutcomeRetry
	}
	return OutcomeFailed
}

// deliver makes one attempt of a delivery and says what it leaves the
// delivery in: delivered (2xx), failed and the subscription disabled (410),
// pending until the schedule's next delay, or failed after the last.
func (d *Dispatcher) deliver(ctx context.Context, sub *store.Subscription, dd store.DueDelivery) (store.AttemptOutcome, attempted) {
	secrets := Secrets{Current: sub.Secret}
	if sub.PreviousSecret != nil && sub.PreviousSecretExpiresAt != nil {
		secrets.Previous, secrets.PreviousExpireAt = *sub.PreviousSecret, *sub.PreviousSecretExpiresAt
	}
	a := d.attempt(ctx, sub.URL, secrets, dd.EventID, []byte(dd.Body))
	number := dd.Attempts + 1
	o := store.AttemptOutcome{
		DeliveryID: dd.ID, Attempt: number, AttemptedAt: a.at, Duration: a.took, Error: a.err, Excerpt: a.excerpt,
		SubscriptionID: sub.ID,
	}
	if a.status != 0 {
		o.StatusCode = &a.status
	}
	switch {
	case a.status >= 200 && a.status < 300:
		o.Status = store.DeliveryDelivered
	case a.status == http.StatusGone:
		o.Status, o.DisableSubscription = store.DeliveryFailed, store.DisabledGone
		o.Error = "410 Gone: the receiver asked to stop; the subscription is disabled"
	case number <= len(d.Schedule):
		o.Status = store.DeliveryPending
		next := d.Store.Now().Add(d.Schedule[number-1])
		o.NextAttemptAt = &next
	default:
		o.Status = store.DeliveryFailed
	}
	return o, a
}

// attempted is what one POST gave: the status (0 when nothing was
// answered), how long it took, why it failed and the start of the answer.
type attempted struct {
	at      time.Time
	status  int
	took    time.Duration
	err     string
	excerpt string
}

// attempt POSTs the event's body, signed, within AttemptTimeout.
func (d *Dispatcher) attempt(ctx context.Context, target string, secrets Secrets, msgID string, body []byte) attempted {
	a := attempted{at: time.Now()}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		a.err = "the subscription's URL is not an absolute http(s) URL"
		return a
	}
	h, err := Headers(secrets, msgID, a.at, body)
	if err != nil {
		a.err = err.Error()
		return a
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		a.err = err.Error()
		return a
	}
	req.Header = h
	resp, err := d.Client.Do(req)
	if err != nil {
		a.took = time.Since(a.at)
		a.err = describe(err, actx, d.timeout())
		return a
	}
	defer resp.Body.Close()
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	// Drain a little more so the connection can be reused; never the
	// whole of a large answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.took = time.Since(a.at)
	a.status, a.excerpt = resp.StatusCode, string(buf)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return a
}

// describe says why nothing was answered, as the tenant's approvers read
// it in the attempt: without the URL (it may carry a token in its query),
// without the address a refused name resolved to (a name rebound to an
// internal host would otherwise map the internal network to whoever owns
// the name) and without the DNS server the orchestrator asks.
func describe(err error, ctx context.Context, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrPlainHTTP):
		return ErrPlainHTTP.Error()
	case errors.Is(err, ErrForbiddenAddress):
		return ErrForbiddenAddress.Error() + ": the receiver's host leads to a private, loopback, link-local or otherwise internal address (such receivers need EVENTS_ALLOW_PRIVATE)"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &dnsErr):
		e := *dnsErr
		e.Server = ""
		return e.Error()
	}
	return err.Error()
}
