package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// The outbox: every state change the audit trail records is also recorded
// as an event, in the same transaction as the change, with one delivery per
// enabled subscription of the tenant that selects its type. A change that
// rolls back takes its event with it, and a committed event waits in
// event_deliveries for the dispatcher however long any process is down.

// Resources events are about (the events.resource column).
const (
	ResourceApproval     = "approval"
	ResourceConsultation = "consultation"
)

// outbox gathers, within one write, the subscriptions that got deliveries,
// to tell the dispatcher once the write has committed.
type outbox struct {
	queued []string
	// subs are the tenant's enabled subscriptions as this transaction read
	// them (and, on PostgreSQL, locked them): a write that records two
	// changes (a decision and the consultation it opens) reads them once.
	subs map[string][]subscription
}

// subscription is what the outbox reads of a subscription.
type subscription struct {
	ID         string
	EventTypes StringList
}

// writeEvents is write for changes that record events: fn records them in
// ob, and once the transaction has committed the OnDeliveriesQueued hook
// hears which subscriptions have something new to deliver.
func (s *Store) writeEvents(ctx context.Context, scope Scope, fn func(tx *gorm.DB, ob *outbox) error) error {
	ob := &outbox{}
	if err := s.write(ctx, scope, func(tx *gorm.DB) error { return fn(tx, ob) }); err != nil {
		return err
	}
	s.deliveriesQueued(ob.queued)
	return nil
}

// deliveriesQueued calls the hook, if any, with each subscription once.
func (s *Store) deliveriesQueued(ids []string) {
	if s.onQueued == nil || len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	s.onQueued(slices.Compact(ids))
}

// change is one state change to report.
type change struct {
	tenantID, typ        string
	resource, resourceID string
	// at is when the change happened: the envelope's timestamp.
	at time.Time
	// data is the resource as the API returns it; its JSON is an object
	// with tenantId, to which the event's sequence is added.
	data any
	// created: the resource was inserted by this transaction, so this is
	// its first event.
	created bool
}

// envelope is an event's body, Standard Webhooks' {"type","timestamp","data"}.
type envelope struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// eventConsultation is a consultation as event data: without the Jitsi room
// name, which the API gives only to those who get a join link (see
// api.consultationView); a receiver may be anyone the tenant's approvers
// point a subscription at.
type eventConsultation struct {
	*Consultation
	JitsiRoom string `json:"jitsiRoom,omitempty"`
}

// record writes ch as an event with its deliveries, when at least one
// enabled subscription of the tenant selects its type; otherwise nothing.
func (s *Store) record(tx *gorm.DB, ob *outbox, ch change) error {
	subs, err := s.subscriptions(tx, ob, ch)
	if err != nil {
		return err
	}
	var targets []string
	for _, sub := range subs {
		if domain.EventMatches(sub.EventTypes, ch.typ) {
			targets = append(targets, sub.ID)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	seq, err := s.nextSequence(tx, ch)
	if err != nil {
		return err
	}
	body, err := eventBody(ch, seq)
	if err != nil {
		return err
	}
	now := s.Now()
	ev := Event{
		ID: NewEventID(), TenantID: ch.tenantID, Type: ch.typ, Resource: ch.resource, ResourceID: ch.resourceID,
		Sequence: seq, Body: string(body), CreatedAt: ch.at.UTC(),
	}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("insert event %s: %w", ch.typ, err)
	}
	deliveries := make([]EventDelivery, len(targets))
	for i, id := range targets {
		deliveries[i] = EventDelivery{
			ID: NewID(), SubscriptionID: id, EventID: ev.ID, TenantID: ch.tenantID, Status: DeliveryPending,
			NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now,
		}
	}
	if err := tx.Create(&deliveries).Error; err != nil {
		return fmt.Errorf("insert deliveries of %s: %w", ch.typ, err)
	}
	ob.queued = append(ob.queued, targets...)
	return nil
}

// nextSequence is the resource's next sequence number among its events.
// On PostgreSQL the resource's row is locked first (the change's own
// update holds that lock already; a reminder takes it), so two changes of
// one resource number their events one after the other. SQLite runs one
// transaction at a time.
func (s *Store) nextSequence(tx *gorm.DB, ch change) (int64, error) {
	if ch.created {
		return 1, nil
	}
	if s.dialect == Postgres {
		table, key := "approvals", "id"
		switch ch.resource {
		case ResourceConsultation:
			table = "consultations"
		case ResourcePolicy:
			table, key = "approval_policies", "tenant_id"
		}
		var locked []string
		if err := tx.Raw("SELECT "+key+" FROM "+table+" WHERE tenant_id = ? AND "+key+" = ? FOR UPDATE",
			ch.tenantID, ch.resourceID).Scan(&locked).Error; err != nil {
			return 0, fmt.Errorf("lock %s %s: %w", ch.resource, ch.resourceID, err)
		}
	}
	// One probe of events_resource_sequence_idx.
	q := tx.Table("events").Select("COALESCE(MAX(sequence), 0)").
		Where("tenant_id = ? AND resource = ? AND resource_id = ?", ch.tenantID, ch.resource, ch.resourceID)
	var last int64
	if err := q.Scan(&last).Error; err != nil {
		return 0, fmt.Errorf("read sequence of %s %s: %w", ch.resource, ch.resourceID, err)
	}
	return last + 1, nil
}

// eventBody is the exact body every delivery of the event signs and sends:
// the envelope with the resource, its tenantId and the sequence as data.
func eventBody(ch change, seq int64) ([]byte, error) {
	data, err := json.Marshal(ch.data)
	if err != nil {
		return nil, fmt.Errorf("encode %s data: %w", ch.typ, err)
	}
	data = bytes.TrimSpace(data)
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return nil, fmt.Errorf("encode %s data: not a JSON object", ch.typ)
	}
	tail := `"sequence":` + strconv.FormatInt(seq, 10) + "}"
	if len(data) > 2 {
		tail = "," + tail
	}
	data = append(data[:len(data)-1:len(data)-1], tail...)
	body, err := json.Marshal(envelope{Type: ch.typ, Timestamp: ch.at.UTC().Format(time.RFC3339Nano), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ch.typ, err)
	}
	return body, nil
}

// NewEventID returns an event id, the webhook-id of its deliveries:
// "msg_" and a time-ordered UUID without its dashes.
func NewEventID() string { return "msg_" + strings.ReplaceAll(NewID(), "-", "") }

// approvalChanged reports a change of an approval.
func approvalChanged(typ string, a *Approval) change {
	return change{tenantID: a.TenantID, typ: typ, resource: ResourceApproval, resourceID: a.ID,
		at: a.UpdatedAt, data: a}
}

// consultationChanged reports a change of a consultation.
func consultationChanged(typ string, c *Consultation) change {
	return change{tenantID: c.TenantID, typ: typ, resource: ResourceConsultation, resourceID: c.ID,
		at: c.UpdatedAt, data: eventConsultation{Consultation: c}}
}

// statusEvent is the event of a status change: the audit action when it
// names one, else what the new status says.
func statusEvent(c StatusChange, entry *AuditLog) string {
	if entry != nil && strings.HasPrefix(entry.Action, ResourceApproval+".") && slices.Contains(domain.EventTypes, entry.Action) {
		return entry.Action
	}
	switch c.To {
	case StatusExpired:
		return domain.EventApprovalExpired
	case StatusWithdrawn:
		return domain.EventApprovalWithdrawn
	case StatusInfoRequested:
		return domain.EventApprovalInfoRequested
	}
	return domain.EventApprovalInfoProvided
}

// recordReminder reports that the approvers of an approval were reminded
// (an audit entry just inserted, no change of the row): the approval as it
// stands, at the entry's time.
func (s *Store) recordReminder(tx *gorm.DB, ob *outbox, entry *AuditLog) error {
	var rows []Approval
	if err := tx.Where("tenant_id = ? AND id = ?", entry.TenantID, entry.ResourceID).Limit(1).Find(&rows).Error; err != nil {
		return fmt.Errorf("read approval %s: %w", entry.ResourceID, err)
	}
	if len(rows) == 0 {
		return nil // nothing to report about
	}
	ch := approvalChanged(domain.EventApprovalReminded, &rows[0])
	ch.at = entry.CreatedAt
	return s.record(tx, ob, ch)
}

// subscriptions reads the tenant's enabled subscriptions, once per
// transaction (outbox.subs).
func (s *Store) subscriptions(tx *gorm.DB, ob *outbox, ch change) ([]subscription, error) {
	if subs, ok := ob.subs[ch.tenantID]; ok {
		return subs, nil
	}
	var subs []subscription
	q := tx.Table("event_subscriptions").Select("id, event_types").
		Where("tenant_id = ? AND enabled = ?", ch.tenantID, true).Order("id")
	if s.dialect == Postgres {
		// The deliveries' foreign key takes this lock anyway; taking it
		// as the subscriptions are read keeps only those still there and
		// enabled: one deleted (or disabled) meanwhile by a transaction
		// that has committed is left out, and one being deleted is waited
		// for, instead of failing the change on the foreign key.
		q = q.Clauses(clause.Locking{Strength: "KEY SHARE"})
	}
	if err := q.Find(&subs).Error; err != nil {
		return nil, fmt.Errorf("read subscriptions for %s: %w", ch.typ, err)
	}
	if ob.subs == nil {
		ob.subs = map[string][]subscription{}
	}
	ob.subs[ch.tenantID] = subs
	return subs, nil
}
