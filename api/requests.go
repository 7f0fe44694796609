package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Request bodies and query strings: how each is read and what makes it valid.
// Handlers get a request that passed, or the caller gets a 4xx naming every
// field that did not.

// Field limits.
const (
	maxTitle        = domain.MaxTitleChars
	maxDescription  = domain.MaxDescriptionChars
	maxMetadata     = 64 << 10
	maxMetadataNest = 16
	maxParticipants = 20
	// maxIDLength bounds a resource id an audit entry names, in bytes (a
	// user id counts characters: domain.ValidUserID).
	maxIDLength = 256
)

// createRequest is a create body: it validates itself and names its tenant.
type createRequest interface {
	validate() error
	tenant() string
}

// bindCreate decodes and validates a create body and checks that the caller
// belongs to its tenant (403 otherwise).
func bindCreate(c *gin.Context, req createRequest) (*auth.Principal, error) {
	if err := decodeJSON(c, req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	p := principal(c)
	if !p.MemberOf(req.tenant()) {
		return nil, errNotMember
	}
	logTenant(c, req.tenant())
	return p, nil
}

// fields collects the field errors of one request.
type fields []FieldError

func (f *fields) add(field, detail string) { *f = append(*f, FieldError{field, detail}) }

func (f fields) err() error {
	if len(f) > 0 {
		return invalid(f...)
	}
	return nil
}

func (f *fields) tenantID(name, id string) {
	switch {
	case id == "":
		f.add(name, "is required")
	case !store.ValidTenantID(id):
		f.add(name, "is not a valid tenant id")
	}
}

// title trims *t and checks it: required, at most maxTitle characters, one line.
func (f *fields) title(name string, t *string) {
	*t = strings.TrimSpace(*t)
	switch n := utf8.RuneCountInString(*t); {
	case n == 0:
		f.add(name, "is required")
	case n > maxTitle:
		f.add(name, "must be at most 200 characters")
	case !store.ValidText(*t, false):
		f.add(name, "must not contain control characters")
	}
}

func (f *fields) participants(name string, ids []string) {
	if len(ids) > maxParticipants {
		f.add(name, "must list at most 20 users")
	}
	for _, id := range ids {
		if !domain.ValidUserID(id) {
			f.add(name, "every participant must be a user id of 1 to 256 printable characters")
			return
		}
	}
}

func validResourceID(id string) bool {
	return id != "" && len(id) <= maxIDLength && store.ValidText(id, false)
}

func (f *fields) json(name string, m json.RawMessage) {
	if msg := checkJSONObject(m); msg != "" {
		f.add(name, msg)
	}
}

// checkJSONObject checks a free-form JSON field: absent, null, or an object
// the database can store.
func checkJSONObject(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	if len(m) > maxMetadata {
		return "must be at most 64 KiB of JSON"
	}
	if m[0] != '{' {
		return "must be a JSON object"
	}
	if jsonDepth(m) > maxMetadataNest {
		return "must not nest deeper than 16 levels"
	}
	if !store.StorableJSON(m) {
		return "must not contain \\u0000 or unpaired UTF-16 surrogates"
	}
	// The audit trail hashes its canonical form (docs/audit.md).
	if !store.CanonicalizableJSON(m) {
		return "must have an RFC 8785 canonical form: no duplicate member names, numbers within a double's range"
	}
	return ""
}

func rawOrNil(m json.RawMessage) store.JSON {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return store.JSON(m)
}

type createApprovalRequest struct {
	TenantID     string              `json:"tenantId"`
	Title        string              `json:"title"`
	Description  string              `json:"description"`
	Priority     string              `json:"priority"`
	Metadata     json.RawMessage     `json:"metadata"`
	Conversation *store.Conversation `json:"conversation"`
	Participants []string            `json:"participants"`
	ExpiresAt    *time.Time          `json:"expiresAt"`
}

func (r *createApprovalRequest) tenant() string { return r.TenantID }

func (r *createApprovalRequest) validate() error {
	var f fields
	f.tenantID("tenantId", r.TenantID)
	f.title("title", &r.Title)
	if utf8.RuneCountInString(r.Description) > maxDescription {
		f.add("description", "must be at most 10000 characters")
	} else if !store.ValidText(r.Description, true) {
		f.add("description", "must not contain control characters other than tabs and line breaks")
	}
	switch r.Priority {
	case "":
		r.Priority = store.PriorityMedium
	case store.PriorityLow, store.PriorityMedium, store.PriorityHigh:
	default:
		f.add("priority", "must be low, medium or high")
	}
	f.json("metadata", r.Metadata)
	if c := r.Conversation; c != nil && (c.AccountID <= 0 || c.ConversationID <= 0) {
		f.add("conversation", "accountId and conversationId must be positive numbers")
	}
	f.participants("participants", r.Participants)
	return f.err()
}

type decideRequest struct {
	Status  string `json:"status"`
	Comment string `json:"comment"`
}

type createConsultationRequest struct {
	TenantID       string     `json:"tenantId"`
	Title          string     `json:"title"`
	ParticipantIDs []string   `json:"participantIds"`
	ScheduledAt    *time.Time `json:"scheduledAt"`
	ApprovalID     *string    `json:"approvalId"`
}

func (r *createConsultationRequest) tenant() string { return r.TenantID }

func (r *createConsultationRequest) validate() error {
	var f fields
	f.tenantID("tenantId", r.TenantID)
	f.title("title", &r.Title)
	f.participants("participantIds", r.ParticipantIDs)
	if r.ApprovalID != nil {
		f.add("approvalId", "is set by the escalation that creates the consultation, not by the caller")
	}
	return f.err()
}

var (
	actionPattern   = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,99}$`)
	resourcePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,99}$`)
)

type createAuditRequest struct {
	TenantID   string          `json:"tenantId"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource"`
	ResourceID string          `json:"resourceId"`
	OldValues  json.RawMessage `json:"oldValues"`
	NewValues  json.RawMessage `json:"newValues"`
	Metadata   json.RawMessage `json:"metadata"`
}

func (r *createAuditRequest) tenant() string { return r.TenantID }

func (r *createAuditRequest) validate() error {
	var f fields
	f.tenantID("tenantId", r.TenantID)
	if !actionPattern.MatchString(r.Action) {
		f.add("action", "is required: lower-case letters, digits and . _ : - (at most 100), e.g. ticket.updated")
	}
	if !resourcePattern.MatchString(r.Resource) {
		f.add("resource", "is required: lower-case letters, digits, _ and - (at most 100)")
	}
	if !validResourceID(r.ResourceID) {
		f.add("resourceId", "is required: 1 to 256 printable bytes")
	}
	f.json("oldValues", r.OldValues)
	f.json("newValues", r.NewValues)
	f.json("metadata", r.Metadata)
	return f.err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// noBody refuses a body on a route that takes none; an empty JSON object is
// tolerated.
func noBody(c *gin.Context) error {
	if c.Request.ContentLength <= 0 {
		return nil
	}
	var empty struct{}
	return decodeJSON(c, &empty)
}
