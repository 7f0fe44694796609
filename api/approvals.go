package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Field limits of an escalation.
const (
	maxTitle        = 200
	maxDescription  = 10_000
	maxMetadata     = 64 << 10
	maxMetadataNest = 16
	maxParticipants = 20
	maxIDLength     = 256
	maxIdemKey      = 200
)

type createApprovalRequest struct {
	TenantID     string              `json:"tenantId"`
	Title        string              `json:"title"`
	Description  string              `json:"description"`
	Priority     string              `json:"priority"`
	Metadata     json.RawMessage     `json:"metadata"`
	Conversation *store.Conversation `json:"conversation"`
	Participants []string            `json:"participants"`
}

func (r *createApprovalRequest) validate() error {
	var fe []FieldError
	add := func(f, d string) { fe = append(fe, FieldError{f, d}) }
	if r.TenantID == "" {
		add("tenantId", "is required")
	} else if !store.ValidTenantID(r.TenantID) {
		add("tenantId", "is not a valid tenant id")
	}
	r.Title = strings.TrimSpace(r.Title)
	switch n := utf8.RuneCountInString(r.Title); {
	case n == 0:
		add("title", "is required")
	case n > maxTitle:
		add("title", "must be at most 200 characters")
	case !cleanText(r.Title, false):
		add("title", "must not contain control characters")
	}
	if utf8.RuneCountInString(r.Description) > maxDescription {
		add("description", "must be at most 10000 characters")
	} else if !cleanText(r.Description, true) {
		add("description", "must not contain control characters other than tabs and line breaks")
	}
	switch r.Priority {
	case "":
		r.Priority = store.PriorityMedium
	case store.PriorityLow, store.PriorityMedium, store.PriorityHigh:
	default:
		add("priority", "must be low, medium or high")
	}
	if err := checkMetadata(r.Metadata); err != "" {
		add("metadata", err)
	}
	if c := r.Conversation; c != nil && (c.AccountID <= 0 || c.ConversationID <= 0) {
		add("conversation", "accountId and conversationId must be positive numbers")
	}
	if len(r.Participants) > maxParticipants {
		add("participants", "must list at most 20 users")
	}
	for _, p := range r.Participants {
		if p == "" || len(p) > maxIDLength || !cleanText(p, false) {
			add("participants", "every participant must be a user id of 1 to 256 printable bytes")
			break
		}
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	return nil
}

func checkMetadata(m json.RawMessage) string {
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
	// PostgreSQL's jsonb cannot store NUL or unpaired surrogates.
	if !storableJSON(m) {
		return "must not contain \\u0000 or unpaired UTF-16 surrogates"
	}
	return ""
}

// storableJSON reports whether the \u escapes of a JSON document can be
// stored by PostgreSQL: no NUL, surrogates only in pairs.
func storableJSON(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inString = !inString
		case inString && b[i] == '\\' && i+1 < len(b):
			if b[i+1] != 'u' {
				i++
				continue
			}
			code, ok := hex4(b, i+2)
			if !ok {
				return false
			}
			switch {
			case code == 0:
				return false
			case code >= 0xdc00 && code <= 0xdfff:
				return false // a low surrogate without its high half
			case code >= 0xd800 && code <= 0xdbff:
				low, ok := hex4(b, i+8)
				if !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || low < 0xdc00 || low > 0xdfff {
					return false
				}
				i += 6
			}
			i += 5
		}
	}
	return true
}

func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return int(n), err == nil
}

// cleanText reports whether s can be stored as text: valid UTF-8 without
// control characters other than tab and newlines (multiline fields).
func cleanText(s string, multiline bool) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return false
		case r == '\t' || (multiline && (r == '\n' || r == '\r')):
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			return false
		}
	}
	return true
}

// tenantRequest is a create body: it validates itself and names its tenant.
type tenantRequest interface {
	validate() error
	tenant() string
}

func (r *createApprovalRequest) tenant() string { return r.TenantID }

// bindCreate decodes and validates a create body and checks that the caller
// belongs to its tenant (403 otherwise).
func bindCreate(c *gin.Context, req tenantRequest) (*auth.Principal, error) {
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
	c.Set("tenant", req.tenant())
	return p, nil
}

func (s *Server) createApproval(c *gin.Context) error {
	var req createApprovalRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	id, replayable, err := approvalID(c, p, req.TenantID)
	if err != nil {
		return err
	}
	meta := store.JSON(req.Metadata)
	if len(meta) == 0 || string(meta) == "null" {
		meta = store.JSON("{}")
	}
	ap := store.Approval{
		ID: id, TenantID: req.TenantID, Title: req.Title, Description: req.Description, Status: store.StatusPending,
		Priority: req.Priority, RequestedBy: p.Subject, RequestedByName: p.Name, Metadata: meta, Conversation: req.Conversation,
	}
	out, err := s.startEscalation(c, ap, contract.Actor{ID: p.Subject, Name: p.Name, Channel: store.ChannelAPI}, req.Participants)
	if err != nil {
		return err
	}
	if replayable && (out.Title != ap.Title || out.Priority != ap.Priority || out.Description != ap.Description) {
		return problem(http.StatusUnprocessableEntity, "idempotency_key_reused", "the Idempotency-Key was already used for a different escalation")
	}
	c.Header("Location", "/api/approvals/"+out.ID)
	c.JSON(http.StatusCreated, out)
	return nil
}

var idempotencyNamespace = uuid.MustParse("9b7e4f0c-6a55-4c71-8f0e-3c2d1a9e5b47")

// approvalID derives the id from the Idempotency-Key when there is one, so a
// retried create finds the same workflow instead of starting a second.
func approvalID(c *gin.Context, p *auth.Principal, tenant string) (string, bool, error) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		return store.NewID(), false, nil
	}
	if len(key) > maxIdemKey || !utf8.ValidString(key) {
		return "", false, invalid(FieldError{"Idempotency-Key", "must be at most 200 bytes of UTF-8"})
	}
	return uuid.NewSHA1(idempotencyNamespace, []byte(tenant+"\x00"+p.Subject+"\x00"+key)).String(), true, nil
}

// escalationStart is the start request of an approval's workflow.
func (s *Server) escalationStart(ap store.Approval, actor contract.Actor, participants []string) (client.StartWorkflowOptions, contract.EscalationInput) {
	in := contract.EscalationInput{
		Approval: ap, Actor: actor, Participants: participants,
		ConsultationMaxDurationSeconds:  int64(s.d.ConsultationMaxDuration.Seconds()),
		ConsultationStartTimeoutSeconds: int64(s.d.ConsultationStartTimeout.Seconds()),
	}
	return client.StartWorkflowOptions{
		ID:                       contract.EscalationWorkflowID(ap.ID),
		TaskQueue:                s.d.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contract.TenantIDKey.ValueSet(ap.TenantID),
			contract.ApprovalStatusKey.ValueSet(store.StatusPending),
			contract.PriorityKey.ValueSet(ap.Priority),
			contract.RequestedByKey.ValueSet(ap.RequestedBy),
		),
		Memo:          map[string]any{"title": ap.Title, "tenantId": ap.TenantID, "requestedBy": ap.RequestedBy},
		StaticSummary: "Escalation: " + ap.Title,
		StaticDetails: "Tenant: " + ap.TenantID + "  \nRequested by: " + ap.RequestedBy + "  \nPriority: " + ap.Priority,
	}, in
}

// startEscalation starts the approval's workflow and waits, in the same call
// (Update-With-Start), until the workflow has stored the approval.
func (s *Server) startEscalation(c *gin.Context, ap store.Approval, actor contract.Actor, participants []string) (*store.Approval, error) {
	opts, in := s.escalationStart(ap, actor, participants)
	c.Set("workflow_id", opts.ID)
	return startAndWaitCreated(c.Request.Context(), s.d.Temporal, opts, contract.EscalationWorkflow, in,
		func() (*store.Approval, error) {
			return s.d.Store.GetApproval(c.Request.Context(), store.ScopeOf(ap.TenantID), ap.ID)
		})
}

// startAndWaitCreated starts a workflow (or joins the running one with the
// same id) and waits for its "created" update, which answers with the stored
// row. When the id belongs to a workflow that has already closed (the same
// Idempotency-Key, later), the stored row is read instead.
func startAndWaitCreated[T any](ctx context.Context, tc client.Client, opts client.StartWorkflowOptions, workflowType string, input any,
	stored func() (*T, error)) (*T, error) {
	op := tc.NewWithStartWorkflowOperation(opts, workflowType, input)
	h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: contract.UpdateCreated, UpdateID: "created", WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var out T
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return stored()
		}
		return nil, err
	}
	return &out, nil
}

type listResponse[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

func newList[T any](items []T, next *store.Cursor) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	r := listResponse[T]{Items: items}
	if next != nil {
		s := next.Encode()
		r.NextCursor = &s
	}
	return r
}

// listParams reads tenantId, limit and cursor, and checks membership.
func listParams(c *gin.Context, allowed ...string) (tenant string, limit int, cur *store.Cursor, err error) {
	for k := range c.Request.URL.Query() {
		if !contains(append([]string{"tenantId", "limit", "cursor"}, allowed...), k) {
			return "", 0, nil, invalid(FieldError{clip(k, 100), "is not a known query parameter"})
		}
	}
	tenant = c.Query("tenantId")
	if tenant == "" {
		return "", 0, nil, invalid(FieldError{"tenantId", "is required"})
	}
	if !store.ValidTenantID(tenant) {
		return "", 0, nil, invalid(FieldError{"tenantId", "is not a valid tenant id"})
	}
	if !principal(c).MemberOf(tenant) {
		return "", 0, nil, errNotMember
	}
	c.Set("tenant", tenant)
	if v := c.Query("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > store.MaxLimit {
			return "", 0, nil, invalid(FieldError{"limit", "must be a whole number from 1 to 200"})
		}
		limit = n
	}
	cur, err = store.DecodeCursor(c.Query("cursor"))
	return tenant, limit, cur, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) listApprovals(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c, "status")
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != store.StatusPending && status != store.StatusApproved && status != store.StatusRejected {
		return invalid(FieldError{"status", "must be pending, approved or rejected"})
	}
	rows, next, err := s.d.Store.ListApprovals(c.Request.Context(), scopeOf(principal(c)),
		store.ApprovalQuery{TenantID: tenant, Status: status, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newList(rows, next))
	return nil
}

func (s *Server) getApproval(c *gin.Context) error {
	ap, err := s.d.Store.GetApproval(c.Request.Context(), scopeOf(principal(c)), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, ap)
	return nil
}

type decideRequest struct {
	Status  string `json:"status"`
	Comment string `json:"comment"`
}

func (s *Server) decideApproval(c *gin.Context) error {
	var req decideRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Status != store.StatusApproved && req.Status != store.StatusRejected {
		return invalid(FieldError{"status", `must be "approved" or "rejected"`})
	}
	if len(req.Comment) > contract.MaxCommentBytes {
		return invalid(FieldError{"comment", "must be at most 4000 bytes"})
	}
	if !cleanText(req.Comment, true) {
		return invalid(FieldError{"comment", "must not contain control characters other than tabs and line breaks"})
	}
	p := principal(c)
	ctx := c.Request.Context()
	ap, err := s.d.Store.GetApproval(ctx, scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	c.Set("tenant", ap.TenantID)
	if !p.HasRole(s.d.ApproverRole) {
		return errNeedApprover(s.d.ApproverRole)
	}
	if ap.RequestedBy == p.Subject {
		return problem(http.StatusForbidden, "separation_of_duties", "the requester cannot decide their own escalation")
	}
	if ap.Status != store.StatusPending {
		if ap.Status == req.Status && ap.ApprovedBy != nil && *ap.ApprovedBy == p.Subject {
			// The caller's own decision, retried (say after a 503): the
			// answer it would have had.
			c.JSON(http.StatusOK, ap)
			return nil
		}
		return problem(http.StatusConflict, "already_decided", "the approval is already %s", ap.Status)
	}
	wfID := contract.EscalationWorkflowID(ap.ID)
	c.Set("workflow_id", wfID)
	updateID := c.GetHeader("Idempotency-Key")
	if updateID == "" || len(updateID) > maxIdemKey || !utf8.ValidString(updateID) {
		updateID = uuid.NewString()
	}
	h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateName: contract.UpdateDecide, UpdateID: "decide-" + updateID,
		WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{contract.DecisionRequest{
			Status: req.Status, Comment: req.Comment, DeciderID: p.Subject, DeciderName: p.Name, Channel: store.ChannelAPI,
		}},
	})
	var res contract.DecisionResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			// The workflow has closed since the read: it was decided meanwhile.
			return problem(http.StatusConflict, "already_decided", "the approval was decided meanwhile")
		}
		return err
	}
	c.JSON(http.StatusOK, res.Approval)
	return nil
}

func (s *Server) me(c *gin.Context) error {
	p := principal(c)
	c.JSON(http.StatusOK, gin.H{
		"sub": p.Subject, "name": p.Name, "email": p.Email, "groups": nonNil(p.Groups), "roles": nonNil(p.Roles),
		"tenants": p.Tenants(),
	})
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
