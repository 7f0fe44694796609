package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
	"gorm.io/gorm"
)

// The audit trail is a hash chain per tenant: entry n of a tenant carries
// seq n (gapless, from 1), the hash of entry n-1 (GenesisHash for n = 1) and
// its own hash,
//
//	hash = lowercase hex of SHA-256( CanonicalAudit(entry) || prevHash )
//
// where prevHash is the 64 ASCII hex characters. docs/audit.md specifies the
// encoding byte for byte; this file is its only implementation (the insert,
// the migration that chains older rows and every verifier call it), so that
// what is hashed cannot drift between writing and checking.

// GenesisHash is the prevHash of a tenant's first entry.
var GenesisHash = strings.Repeat("0", 64)

// auditTimeLayout is the one form a timestamp is hashed in: RFC 3339 in UTC
// with exactly six fractional digits, the precision both databases keep.
const auditTimeLayout = "2006-01-02T15:04:05.000000Z"

// AuditTime formats t as it is hashed.
func AuditTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(auditTimeLayout) }

// AuditFields are the fields of an entry the hash covers, in the form they
// are hashed (createdAt with six fractional digits). Their JSON is only an
// intermediate for the hash: CanonicalAudit passes it through RFC 8785
// (JCS), which sorts the members and fixes every byte. An absent JSON
// column (SQL NULL) encodes as null, like a JSON null.
type AuditFields struct {
	Seq        int64   `json:"seq"`
	ID         string  `json:"id"`
	TenantID   string  `json:"tenantId"`
	EventKey   *string `json:"eventKey"`
	Action     string  `json:"action"`
	Resource   string  `json:"resource"`
	ResourceID string  `json:"resourceId"`
	UserID     string  `json:"userId"`
	UserName   string  `json:"userName"`
	Channel    string  `json:"channel"`
	OldValues  JSON    `json:"oldValues"`
	NewValues  JSON    `json:"newValues"`
	Metadata   JSON    `json:"metadata"`
	CreatedAt  string  `json:"createdAt"`
}

// fieldsOf gives e's hashed fields, each JSON value passed through jsonOf.
func fieldsOf(e *AuditLog, jsonOf func(JSON) JSON) AuditFields {
	return AuditFields{
		Seq: e.Seq, ID: e.ID, TenantID: e.TenantID, EventKey: e.EventKey, Action: e.Action,
		Resource: e.Resource, ResourceID: e.ResourceID, UserID: e.UserID, UserName: e.UserName,
		Channel: e.Channel, OldValues: jsonOf(e.OldValues), NewValues: jsonOf(e.NewValues),
		Metadata: jsonOf(e.Metadata), CreatedAt: AuditTime(e.CreatedAt),
	}
}

// CanonicalAudit is the RFC 8785 encoding of the fields of e the hash covers
// (seq included, prevHash and hash not).
func CanonicalAudit(e *AuditLog) ([]byte, error) {
	// JCS canonicalises the JSON values with the rest: no pass of their own.
	b, err := json.Marshal(fieldsOf(e, func(j JSON) JSON { return j }))
	if err != nil {
		return nil, fmt.Errorf("canonical audit entry %s: %w: %w", e.ID, ErrInvalid, err)
	}
	out, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("canonical audit entry %s: %w: %w", e.ID, ErrInvalid, err)
	}
	return out, nil
}

// AuditHash is the hash of e chained to prevHash.
func AuditHash(e *AuditLog, prevHash string) (string, error) {
	c, err := CanonicalAudit(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(c)
	h.Write([]byte(prevHash))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalJSON rewrites a JSON column in its RFC 8785 form before it is
// stored. PostgreSQL's jsonb gives a document back re-ordered and re-spaced
// and keeps the last of duplicate members, so the entry is hashed as JCS,
// and storing JCS makes what is hashed and what is stored the same document
// on both databases. A document JCS cannot represent (duplicate members,
// a number beyond IEEE 754 double) is refused rather than hashed ambiguously.
func canonicalJSON(j JSON) (JSON, error) {
	if len(j) == 0 {
		return nil, nil
	}
	out, err := jcs.Transform(j)
	if err != nil {
		return nil, fmt.Errorf("%w: a JSON value of an audit entry has no canonical form: %w", ErrInvalid, err)
	}
	return out, nil
}

// AuditHead is the last entry of a tenant's chain: its seq and hash. An
// empty chain's head is seq 0 with GenesisHash.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// chainLockSpace is the first key of the two-key advisory locks that
// serialise one tenant's chain appends on PostgreSQL (the second key is a
// hash of the tenant). The two-key space does not overlap the one-key space
// of migrationLock.
const chainLockSpace = 0x0A0D17

// chain fills entry's seq, prevHash and hash as the next entry of its
// tenant's chain. On PostgreSQL it first takes a transaction-level advisory
// lock on the tenant, so appends of one tenant queue for the rest of their
// transaction while other tenants run beside them; the lock is taken before
// the head is read, so the read sees the head the previous holder committed.
// SQLite needs no lock: the store has a single connection (Open), so its
// transactions never overlap. On either database the unique (tenant_id,
// seq) index refuses a fork of the chain whatever happens around this.
func chain(tx *gorm.DB, entry *AuditLog) error {
	if tx.Dialector.Name() == string(Postgres) {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(?))", chainLockSpace, entry.TenantID).Error; err != nil {
			return fmt.Errorf("lock the audit chain of %s: %w", entry.TenantID, err)
		}
	}
	head, err := chainHead(tx, entry.TenantID)
	if err != nil {
		return err
	}
	entry.Seq, entry.PrevHash = head.Seq+1, head.Hash
	entry.Hash, err = AuditHash(entry, entry.PrevHash)
	return err
}

// chainHead reads a tenant's head through the (tenant_id, seq) index.
func chainHead(tx *gorm.DB, tenant string) (AuditHead, error) {
	var rows []AuditHead
	if err := tx.Raw("SELECT seq, hash FROM audit_logs WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1", tenant).
		Scan(&rows).Error; err != nil {
		return AuditHead{}, fmt.Errorf("read the audit chain head of %s: %w", tenant, err)
	}
	if len(rows) == 0 {
		return AuditHead{Seq: 0, Hash: GenesisHash}, nil
	}
	return rows[0], nil
}

// chainExisting chains the entries written before migration 0012, per
// tenant, oldest first (created_at, id). It runs in the migration's
// transaction, as the tables' owner; on PostgreSQL it lifts FORCE ROW LEVEL
// SECURITY for that transaction only (the owner must see every tenant) and
// makes the chain columns NOT NULL once every row has them.
func chainExisting(tx *gorm.DB) error {
	pg := tx.Dialector.Name() == string(Postgres)
	if pg {
		// The append-only trigger lets the owner through; a superuser
		// running the migrations on tables another role owns too.
		for _, stmt := range []string{
			"ALTER TABLE audit_logs NO FORCE ROW LEVEL SECURITY",
			"ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only",
		} {
			if err := tx.Exec(stmt).Error; err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
	}
	var tenants []string
	if err := tx.Raw("SELECT DISTINCT tenant_id FROM audit_logs WHERE seq IS NULL ORDER BY tenant_id").Scan(&tenants).Error; err != nil {
		return fmt.Errorf("list tenants to chain: %w", err)
	}
	for _, tenant := range tenants {
		head, err := chainHead(tx, tenant)
		if err != nil {
			return err
		}
		for {
			var rows []AuditLog
			if err := tx.Where("tenant_id = ? AND seq IS NULL", tenant).Order("created_at, id").Limit(500).Find(&rows).Error; err != nil {
				return fmt.Errorf("read entries to chain: %w", err)
			}
			if len(rows) == 0 {
				break
			}
			for i := range rows {
				e := &rows[i]
				// The stored JSON as JCS, and the time as kept: the hash
				// must cover exactly what a verifier reads back.
				for _, col := range []*JSON{&e.OldValues, &e.NewValues, &e.Metadata} {
					c, err := canonicalJSON(*col)
					if err != nil {
						return fmt.Errorf("chain audit entry %s: %w", e.ID, err)
					}
					*col = c
				}
				e.Seq, e.PrevHash = head.Seq+1, head.Hash
				if e.Hash, err = AuditHash(e, e.PrevHash); err != nil {
					return err
				}
				if err := tx.Exec("UPDATE audit_logs SET seq = ?, prev_hash = ?, hash = ?, old_values = ?, new_values = ?, metadata = ? WHERE id = ?",
					e.Seq, e.PrevHash, e.Hash, e.OldValues, e.NewValues, e.Metadata, e.ID).Error; err != nil {
					return fmt.Errorf("chain audit entry %s: %w", e.ID, err)
				}
				head = AuditHead{Seq: e.Seq, Hash: e.Hash}
			}
		}
	}
	if pg {
		for _, stmt := range []string{
			"ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only",
			"ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY",
			"ALTER TABLE audit_logs ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL",
		} {
			if err := tx.Exec(stmt).Error; err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
	}
	return nil
}

// Reasons a chain is broken, as verify reports them.
const (
	// BrokenChanged: the entry at this seq is not what was hashed (a field
	// changed, or the entry was rewritten with a new hash its successor
	// does not link to).
	BrokenChanged = "changed"
	// BrokenMissing: the entry at this seq is not there (deleted), or its
	// successor links to an entry the chain no longer holds.
	BrokenMissing = "missing"
	// BrokenReordered: the entry at this seq is intact but was written at
	// another position.
	BrokenReordered = "reordered"
	// BrokenUnchained: an entry without a place in the chain (written
	// around the store).
	BrokenUnchained = "unchained"
)

// AuditVerification is the result of walking a tenant's chain.
type AuditVerification struct {
	TenantID string `json:"tenantId"`
	// Entries is how many entries were read.
	Entries int64 `json:"entries"`
	// Head is the last entry read, as stored.
	Head  AuditHead `json:"head"`
	Valid bool      `json:"valid"`
	// FromSeq is the first seq of a partial chain (an export of a range),
	// whose first prevHash is taken as given; 0 for a whole chain.
	FromSeq int64 `json:"fromSeq,omitempty"`
	// AnchorsChecked counts the anchors held outside the database (Temporal)
	// the chain was compared with.
	AnchorsChecked int `json:"anchorsChecked"`
	// AnchorsSkipped says why no anchor was checked, when none could be.
	AnchorsSkipped string `json:"anchorsSkipped,omitempty"`
	// The first break, when not valid.
	BrokenSeq *int64 `json:"brokenSeq,omitempty"`
	Reason    string `json:"reason,omitempty"`
	EntryID   string `json:"entryId,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

func (v *AuditVerification) fail(seq int64, reason, entryID, detail string) {
	v.Valid = false
	v.BrokenSeq = &seq
	v.Reason, v.EntryID, v.Detail = reason, entryID, detail
}

// hashLookup finds the stored entry whose hash is h (nil if none), to tell
// a reordered entry from a changed one.
type hashLookup func(h string) (*AuditLog, error)

// chainWalker checks entries one by one in seq order. It stops at the first
// break.
type chainWalker struct {
	v       AuditVerification
	partial bool
	next    int64
	prev    string
	lookup  hashLookup
	// present, when set, says whether a seq is anywhere in the input (an
	// export read whole), to tell entries out of order from missing ones.
	present func(seq int64) bool
}

func newChainWalker(tenant string, partial bool, lookup hashLookup) *chainWalker {
	return &chainWalker{
		v:       AuditVerification{TenantID: tenant, Valid: true, Head: AuditHead{Hash: GenesisHash}},
		partial: partial, next: 1, prev: GenesisHash, lookup: lookup,
	}
}

// errChainBroken stops a walk: the walker holds the break.
var errChainBroken = errors.New("audit chain broken")

// add checks e, the next entry read; errChainBroken once the chain breaks.
func (w *chainWalker) add(e *AuditLog) error {
	if !w.v.Valid {
		return errChainBroken
	}
	if e.Seq <= 0 || e.Hash == "" {
		w.v.fail(w.next, BrokenUnchained, e.ID, fmt.Sprintf("entry %s has no place in the chain (no seq or hash): it was written around the store", e.ID))
		return errChainBroken
	}
	if w.partial && w.v.Entries == 0 {
		// A range starts wherever it starts, linked to what it says came before.
		w.next, w.prev, w.v.FromSeq = e.Seq, e.PrevHash, e.Seq
	}
	if e.TenantID != w.v.TenantID {
		w.v.fail(e.Seq, BrokenChanged, e.ID, fmt.Sprintf("entry %s belongs to tenant %q, not %q", e.ID, e.TenantID, w.v.TenantID))
		return errChainBroken
	}
	switch {
	case e.Seq > w.next && w.present != nil && w.present(w.next):
		w.v.fail(w.next, BrokenReordered, "", fmt.Sprintf("seq %d comes later, after seq %d", w.next, e.Seq))
		return errChainBroken
	case e.Seq > w.next:
		w.v.fail(w.next, BrokenMissing, "", fmt.Sprintf("no entry at seq %d (the next one is %d): deleted", w.next, e.Seq))
		return errChainBroken
	case e.Seq < w.next:
		w.v.fail(e.Seq, BrokenReordered, e.ID, fmt.Sprintf("entry %s (seq %d) comes after seq %d", e.ID, e.Seq, w.next-1))
		return errChainBroken
	}
	got, err := AuditHash(e, e.PrevHash)
	if err != nil {
		w.v.fail(e.Seq, BrokenChanged, e.ID, err.Error())
		return errChainBroken
	}
	if got != e.Hash {
		// Intact at another position? Its prevHash names its first
		// predecessor; hashed at the seq after that one, it would match.
		if at, ok := w.originalSeq(e); ok {
			w.v.fail(e.Seq, BrokenReordered, e.ID, fmt.Sprintf("entry %s was written at seq %d and now stands at seq %d", e.ID, at, e.Seq))
		} else {
			w.v.fail(e.Seq, BrokenChanged, e.ID, fmt.Sprintf("entry %s does not match its hash: a field was changed", e.ID))
		}
		return errChainBroken
	}
	if e.PrevHash != w.prev {
		// The entry is intact but does not follow the one before it.
		if at, ok := w.originalSeq(e); ok && at != e.Seq {
			w.v.fail(e.Seq, BrokenReordered, e.ID, fmt.Sprintf("entry %s follows the entry at seq %d, not seq %d", e.ID, at-1, e.Seq-1))
		} else if w.v.Entries > 0 {
			w.v.fail(e.Seq-1, BrokenChanged, "", fmt.Sprintf("entry %d is not the one entry %d was chained to: it was rewritten", e.Seq-1, e.Seq))
		} else {
			w.v.fail(e.Seq, BrokenMissing, e.ID, fmt.Sprintf("entry %s links to an entry the chain does not hold", e.ID))
		}
		return errChainBroken
	}
	w.v.Entries++
	w.v.Head = AuditHead{Seq: e.Seq, Hash: e.Hash}
	w.next, w.prev = e.Seq+1, e.Hash
	return nil
}

// originalSeq is the seq e was hashed at, when its prevHash leads, link by
// link, to the genesis through entries that are intact at some position:
// e was hashed right after its predecessor's original seq. Only the first
// break asks, and a few links settle the usual cases (two entries swapped).
func (w *chainWalker) originalSeq(e *AuditLog) (int64, bool) {
	return w.originalSeqAt(e, 0)
}

func (w *chainWalker) originalSeqAt(e *AuditLog, depth int) (int64, bool) {
	var before int64
	if e.PrevHash != GenesisHash {
		if w.lookup == nil || depth > 8 {
			return 0, false
		}
		p, err := w.lookup(e.PrevHash)
		if err != nil || p == nil {
			return 0, false
		}
		if h, err := AuditHash(p, p.PrevHash); err == nil && h == p.Hash {
			before = p.Seq
		} else if seq, ok := w.originalSeqAt(p, depth+1); ok {
			before = seq
		} else {
			return 0, false
		}
	}
	moved := *e
	moved.Seq = before + 1
	h, err := AuditHash(&moved, e.PrevHash)
	if err != nil || h != e.Hash {
		return 0, false
	}
	return moved.Seq, true
}

// result ends the walk.
func (w *chainWalker) result() AuditVerification { return w.v }

// auditPage is how many entries a walk reads per query.
const auditPage = 1000

// walkAudit reads a tenant's chained entries with fromSeq <= seq <= toSeq
// (toSeq 0: to the end) in seq order, a page per short transaction:
// appends only ever add after the head, so the pages need no common
// snapshot.
func (s *Store) walkAudit(ctx context.Context, one Scope, tenant string, fromSeq, toSeq int64, fn func(*AuditLog) error) error {
	after := fromSeq - 1
	for {
		q := query{table: "audit_logs", order: "seq", limit: auditPage}
		q.and("seq > ?", after)
		if toSeq > 0 {
			q.and("seq <= ?", toSeq)
		}
		var rows []AuditLog
		if err := s.find(ctx, one, q, &rows); err != nil {
			return fmt.Errorf("read the audit chain of %s: %w", tenant, err)
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
			after = rows[i].Seq
		}
		if len(rows) < auditPage {
			return nil
		}
	}
}

// VerifyAudit walks a tenant's chain in the database from seq 1 and reports
// the first break. A tenant outside scope is ErrNotFound; a tenant without
// entries has a valid, empty chain.
func (s *Store) VerifyAudit(ctx context.Context, scope Scope, tenant string) (*AuditVerification, error) {
	one, ok := scope.Narrow(tenant)
	if !ok {
		return nil, ErrNotFound
	}
	lookup := func(h string) (*AuditLog, error) {
		var rows []AuditLog
		q := query{table: "audit_logs", order: "seq", limit: 1}
		q.and("hash = ?", h)
		if err := s.find(ctx, one, q, &rows); err != nil || len(rows) == 0 {
			return nil, err
		}
		return &rows[0], nil
	}
	w := newChainWalker(tenant, false, lookup)
	err := s.walkAudit(ctx, one, tenant, 1, 0, w.add)
	if err != nil && !errors.Is(err, errChainBroken) {
		return nil, err
	}
	v := w.result()
	if v.Valid {
		// Entries outside the chain: written around the store.
		var rows []AuditLog
		q := query{table: "audit_logs", order: "created_at, id", limit: 1}
		q.and("(seq IS NULL OR hash IS NULL)")
		if err := s.find(ctx, one, q, &rows); err != nil {
			return nil, fmt.Errorf("verify audit of %s: %w", tenant, err)
		}
		if len(rows) > 0 {
			v.fail(v.Head.Seq+1, BrokenUnchained, rows[0].ID, fmt.Sprintf("entry %s has no place in the chain (no seq or hash): it was written around the store", rows[0].ID))
		}
	}
	return &v, nil
}

// CheckAnchors compares anchors held outside the database (heads recorded
// in Temporal) with the chain in the database: each anchor's seq must hold
// an entry with the anchor's hash. Since every hash commits to all the
// entries before it, a chain rewritten up to an anchor fails here even when
// it is consistent in itself. It records the first mismatch (lowest seq) in
// v unless v already holds an earlier break.
func (s *Store) CheckAnchors(ctx context.Context, scope Scope, v *AuditVerification, anchors []AuditAnchor) error {
	one, ok := scope.Narrow(v.TenantID)
	if !ok {
		return ErrNotFound
	}
	slices.SortFunc(anchors, func(a, b AuditAnchor) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, a := range anchors {
		if a.Seq <= 0 {
			continue
		}
		v.AnchorsChecked++
		if v.BrokenSeq != nil && *v.BrokenSeq <= a.Seq {
			continue
		}
		var rows []AuditLog
		q := query{table: "audit_logs", order: "seq", limit: 1}
		q.and("seq = ?", a.Seq)
		if err := s.find(ctx, one, q, &rows); err != nil {
			return fmt.Errorf("check audit anchors of %s: %w", v.TenantID, err)
		}
		switch {
		case len(rows) == 0:
			v.fail(a.Seq, BrokenMissing, "", fmt.Sprintf("escalation %s recorded seq %d in Temporal; the database has no entry there", a.Source, a.Seq))
		case rows[0].Hash != a.Hash:
			v.fail(a.Seq, BrokenChanged, rows[0].ID, fmt.Sprintf("escalation %s recorded hash %s for seq %d in Temporal; the database has %s: the chain up to it was rewritten", a.Source, a.Hash, a.Seq, rows[0].Hash))
		default:
			continue
		}
	}
	return nil
}

// AuditAnchor is a chain head recorded outside the database, and where.
type AuditAnchor struct {
	AuditHead
	// Source names where the anchor was found (a workflow id).
	Source string
}

// AuditRecord is one entry as exported: every field the hash covers, in the
// form it is hashed (createdAt with six fractional digits, JSON values in
// canonical form), with seq, prevHash and hash. One per line in an export.
type AuditRecord struct {
	AuditFields
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// RecordOf is e as exported, its JSON values in canonical form (PostgreSQL
// gives jsonb back in its own order and spacing).
func RecordOf(e *AuditLog) AuditRecord {
	canon := func(j JSON) JSON {
		if c, err := canonicalJSON(j); err == nil {
			return c
		}
		return j
	}
	return AuditRecord{AuditFields: fieldsOf(e, canon), PrevHash: e.PrevHash, Hash: e.Hash}
}

// Entry is the record as an AuditLog.
func (r *AuditRecord) Entry() (*AuditLog, error) {
	t, err := time.Parse(time.RFC3339Nano, r.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("entry %s: createdAt: %w", r.ID, err)
	}
	return &AuditLog{
		ID: r.ID, EventKey: r.EventKey, Action: r.Action, Resource: r.Resource, ResourceID: r.ResourceID,
		UserID: r.UserID, UserName: r.UserName, Channel: r.Channel, TenantID: r.TenantID,
		OldValues: r.OldValues, NewValues: r.NewValues, Metadata: r.Metadata, CreatedAt: t.UTC(),
		Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash,
	}, nil
}

// ExportAudit streams a tenant's chain to fn in seq order: the contiguous
// range from the first entry created at or after from to the last created
// before to (either zero: unbounded). Entries are chained in the order they
// commit, which can differ from their creation times by the length of a
// transaction, so a time window is widened to whole seqs, never cut: an
// export always verifies as one piece of the chain.
func (s *Store) ExportAudit(ctx context.Context, scope Scope, tenant string, from, to time.Time, fn func(*AuditRecord) error) error {
	one, ok := scope.Narrow(tenant)
	if !ok {
		return ErrNotFound
	}
	var bounds struct{ Lo, Hi *int64 }
	err := s.write(ctx, one, func(tx *gorm.DB) error {
		q := tx.Table("audit_logs").Select("min(seq) AS lo, max(seq) AS hi").Where("tenant_id = ?", tenant)
		if !from.IsZero() {
			q = q.Where("created_at >= ?", from.UTC())
		}
		if !to.IsZero() {
			q = q.Where("created_at < ?", to.UTC())
		}
		return q.Scan(&bounds).Error
	})
	if err != nil {
		return fmt.Errorf("export audit of %s: %w", tenant, err)
	}
	if bounds.Lo == nil || bounds.Hi == nil {
		return nil
	}
	return s.walkAudit(ctx, one, tenant, *bounds.Lo, *bounds.Hi, func(e *AuditLog) error {
		r := RecordOf(e)
		return fn(&r)
	})
}

// VerifyAuditRecords walks an export: records in file order, one tenant. A
// range that does not start at seq 1 is checked from its first record,
// whose prevHash is taken as given (FromSeq says so).
func VerifyAuditRecords(records []AuditRecord) (*AuditVerification, error) {
	tenant := ""
	if len(records) > 0 {
		tenant = records[0].TenantID
	}
	byHash := make(map[string]*AuditRecord, len(records))
	seqs := make(map[int64]bool, len(records))
	for i, r := range records {
		byHash[r.Hash] = &records[i]
		seqs[r.Seq] = true
	}
	lookup := func(h string) (*AuditLog, error) {
		r, ok := byHash[h]
		if !ok {
			return nil, nil
		}
		return r.Entry()
	}
	partial := len(records) > 0 && records[0].Seq > 1
	w := newChainWalker(tenant, partial, lookup)
	w.present = func(seq int64) bool { return seqs[seq] }
	for i := range records {
		e, err := records[i].Entry()
		if err != nil {
			return nil, err
		}
		if err := w.add(e); err != nil {
			break
		}
	}
	v := w.result()
	return &v, nil
}

// AuditTenants lists the tenants that have audit entries, for verifying
// every chain. On PostgreSQL row-level security hides them from the
// application role; a SECURITY DEFINER function of the owner lists them
// (0012), and nothing else.
func (s *Store) AuditTenants(ctx context.Context) ([]string, error) {
	var out []string
	q := "SELECT DISTINCT tenant_id FROM audit_logs ORDER BY tenant_id"
	if s.dialect == Postgres {
		q = "SELECT * FROM orchestrator_audit_tenants()"
	}
	if err := s.db.WithContext(ctx).Raw(q).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list the tenants of the audit trail: %w", Classify(err))
	}
	return out, nil
}

// AuditHeadOf reads a tenant's chain head (one indexed read), for the
// escalations to record as an anchor outside the database.
func (s *Store) AuditHeadOf(ctx context.Context, tenant string) (AuditHead, error) {
	var head AuditHead
	err := s.write(ctx, ScopeOf(tenant), func(tx *gorm.DB) error {
		var err error
		head, err = chainHead(tx, tenant)
		return err
	})
	if err != nil {
		return AuditHead{}, fmt.Errorf("audit head of %s: %w", tenant, err)
	}
	return head, nil
}

// CanonicalizableJSON reports whether a JSON document has an RFC 8785
// form, which every JSON value of an audit entry needs to be hashed: no
// duplicate member names, every number within an IEEE 754 double.
func CanonicalizableJSON(b []byte) bool {
	_, err := jcs.Transform(b)
	return err == nil
}
