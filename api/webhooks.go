package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/matrix"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Webhooks configures the receivers. They answer fast and leave the work to
// workflows; each delivery is handled once.
type Webhooks struct {
	ChatwootSecret string
	// ChatwootUnsigned accepts unsigned deliveries (old Chatwoot); it must be
	// set explicitly and cannot be combined with a secret.
	ChatwootUnsigned bool
	// ChatwootSecrets are the webhook secrets by Chatwoot account id: each
	// account signs its own deliveries. ChatwootSecret is one secret for a
	// single-account setup.
	ChatwootSecrets map[string]string
	// ChatwootAccountTenants maps a Chatwoot account id to a tenant.
	ChatwootAccountTenants map[string]string
	// MatrixHSToken is the token the homeserver presents; empty disables Matrix.
	MatrixHSToken string
	// MatrixUserSubjects maps Matrix user ids to the subjects they decide as.
	MatrixUserSubjects map[string]string
	// Secrets are the HMAC secrets of generic services, by service name.
	Secrets map[string]string
	// ServiceTenants are the tenants each generic service may write to, by
	// service name; a service without any can write nowhere.
	ServiceTenants map[string][]string
	// Now is the clock for signature freshness (tests).
	Now func() time.Time
}

func (s *Server) registerWebhooks(r *gin.Engine, api *gin.RouterGroup) {
	api.POST("/webhooks/chatwoot", s.handle(s.chatwootWebhook))
	api.POST("/webhooks/chatwoot/:account", s.handle(s.chatwootWebhook))
	api.POST("/webhooks/matrix", s.matrixTransaction)
	api.PUT("/webhooks/matrix", s.matrixTransaction)
	r.PUT("/_matrix/app/v1/transactions/:txnId", s.matrixTransaction)
	api.POST("/webhooks/:service", s.handle(s.genericWebhook))
}

func (s *Server) now() time.Time {
	if s.d.Webhooks.Now != nil {
		return s.d.Webhooks.Now()
	}
	return time.Now()
}

// readWebhookBody reads at most limit bytes of a webhook body.
func readWebhookBody(c *gin.Context, limit int64) ([]byte, error) {
	return readBodyLimit(c, limit)
}

func (s *Server) chatwootWebhook(c *gin.Context) error {
	wh := s.d.Webhooks
	body, err := readWebhookBody(c, chatwoot.MaxWebhookBytes)
	if err != nil {
		return err
	}
	// The account, and the key a delivery is handled once by, come from
	// what the account's secret signed, never from the URL or a header alone.
	auth := chatwoot.WebhookAuth{Secrets: wh.ChatwootSecrets, Secret: wh.ChatwootSecret, Unsigned: wh.ChatwootUnsigned}
	d, err := auth.Authenticate(c.Param("account"), c.Request.Header, body, s.now())
	switch {
	case errors.Is(err, chatwoot.ErrBadPathAccount):
		return errNotFound
	case errors.Is(err, chatwoot.ErrInvalidWebhook):
		return problem(http.StatusBadRequest, "invalid_webhook", "the body is not a Chatwoot webhook")
	case errors.Is(err, chatwoot.ErrAccountMismatch):
		return problem(http.StatusForbidden, "account_mismatch", "the account in the URL is not the account the delivery is signed for")
	case err != nil:
		return problem(http.StatusUnauthorized, "bad_signature", "%s", signatureReason(err))
	}
	ctx := c.Request.Context()
	delivery, ev := d.Key, d.Event
	if seen, err := s.d.Store.SeenDelivery(ctx, "chatwoot", delivery); err != nil {
		return err
	} else if seen {
		c.JSON(http.StatusOK, gin.H{"status": "duplicate"})
		return nil
	}
	answer := func(status int, state string, extra ...any) error {
		h := gin.H{"status": state}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i].(string)] = extra[i+1]
		}
		if err := s.d.Store.RecordDelivery(ctx, "chatwoot", delivery); err != nil {
			return err
		}
		c.JSON(status, h)
		return nil
	}
	trigger, ok := escalationTrigger(ev)
	if !ok {
		return answer(http.StatusOK, "ignored")
	}
	account := d.AccountID
	tenant, ok := wh.ChatwootAccountTenants[strconv.FormatInt(account, 10)]
	if !ok {
		loggerFrom(c).Warn("chatwoot webhook from an unmapped account", "account", account)
		return answer(http.StatusOK, "ignored", "reason", "account is not mapped to a tenant (CHATWOOT_ACCOUNT_TENANTS)")
	}
	conv := store.Conversation{AccountID: account, ConversationID: ev.Conversation.ID}
	if existing, err := s.d.Store.PendingForConversation(ctx, store.ScopeOf(tenant), conv); err == nil {
		return answer(http.StatusOK, "already_escalated", "approvalId", existing.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ap := store.Approval{
		ID:       uuid.NewSHA1(idempotencyNamespace, []byte("chatwoot\x00"+delivery)).String(),
		TenantID: tenant, Title: trigger.title, Description: trigger.description, Status: store.StatusPending,
		Priority: escalationPriority(ev.Conversation.Priority), RequestedBy: trigger.agentID, RequestedByName: trigger.agentName,
		Metadata: store.MustJSON(map[string]any{"source": "chatwoot", "delivery": delivery}), Conversation: &conv,
	}
	in := s.escalationInput(ap, contract.Actor{ID: trigger.agentID, Name: trigger.agentName, Channel: store.ChannelWebhook}, nil)
	opts := contract.EscalationStart(s.d.TaskQueue, ap)
	logWorkflow(c, opts.ID)
	logTenant(c, tenant)
	if _, err := s.d.Temporal.ExecuteWorkflow(ctx, opts, contract.EscalationWorkflow, in); err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			return err
		}
	}
	return answer(http.StatusAccepted, "escalated", "approvalId", ap.ID)
}

type trigger struct {
	title, description, agentID, agentName string
}

// escalationTrigger recognises an agent's request to escalate: a private
// note starting with /escalate, or the label "escalate" being added.
func escalationTrigger(ev *chatwoot.WebhookEvent) (trigger, bool) {
	if ev.Conversation == nil || ev.Conversation.ID <= 0 {
		return trigger{}, false
	}
	switch {
	case ev.Event == chatwoot.EventMessageCreated:
		// Our own notes come back with their echo id: never a trigger.
		if !ev.Private || !ev.FromAgent() || ev.EchoID != "" {
			return trigger{}, false
		}
		content := strings.TrimSpace(ev.Content)
		if !strings.HasPrefix(content, "/escalate") {
			return trigger{}, false
		}
		first, rest, _ := strings.Cut(strings.TrimPrefix(content, "/escalate"), "\n")
		if first != "" && first[0] != ' ' && first[0] != '\t' {
			return trigger{}, false // e.g. "/escalated": not the command
		}
		t := trigger{title: clip(strings.TrimSpace(first), maxTitle), description: clip(strings.TrimSpace(rest), maxDescription),
			agentID: fmt.Sprintf("chatwoot-agent:%d", ev.Sender.ID), agentName: ev.Sender.Name}
		if t.title == "" {
			t.title = fmt.Sprintf("Escalation of conversation #%d", ev.Conversation.ID)
		}
		return t, true
	case ev.Event == chatwoot.EventConversationUpdated:
		change, ok := ev.LabelChange()
		if !ok || !containsFold(change.Added, "escalate") {
			return trigger{}, false
		}
		t := trigger{title: fmt.Sprintf("Escalation of conversation #%d", ev.Conversation.ID), agentID: "chatwoot", agentName: "Chatwoot"}
		if m := ev.Conversation.Meta; m != nil && m.Assignee != nil {
			t.agentID, t.agentName = fmt.Sprintf("chatwoot-agent:%d", m.Assignee.ID), m.Assignee.Name
		}
		return t, true
	}
	return trigger{}, false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func escalationPriority(chatwootPriority string) string {
	switch chatwootPriority {
	case "urgent", "high":
		return store.PriorityHigh
	case "low":
		return store.PriorityLow
	}
	return store.PriorityMedium
}

func signatureReason(err error) string {
	switch {
	case errors.Is(err, chatwoot.ErrNoSecret):
		return "no webhook secret is configured for this account (CHATWOOT_WEBHOOK_SECRETS, or CHATWOOT_WEBHOOK_UNSIGNED=true)"
	case errors.Is(err, chatwoot.ErrMissingSignature):
		return "X-Chatwoot-Signature or X-Chatwoot-Timestamp is missing"
	case errors.Is(err, chatwoot.ErrStaleTimestamp):
		return "X-Chatwoot-Timestamp is outside the freshness window"
	}
	return "X-Chatwoot-Signature does not match the body"
}

// matrixTransaction is the application-service endpoint: the homeserver
// pushes room events; "!approve <id> [comment]" and "!reject <id> [comment]"
// from a mapped user are decisions with the workflow's rules.
func (s *Server) matrixTransaction(c *gin.Context) {
	wh := s.d.Webhooks
	forbidden := func() {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"errcode": "M_FORBIDDEN", "error": "bad hs_token"})
	}
	if wh.MatrixHSToken == "" {
		writeProblem(c, errNotFound)
		return
	}
	tok := strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer ")
	if tok == "" {
		tok = c.Query("access_token") // older homeservers
	}
	if !hmac.Equal([]byte(tok), []byte(wh.MatrixHSToken)) {
		forbidden()
		return
	}
	body, err := readWebhookBody(c, MaxBodyBytes)
	if err != nil {
		writeProblem(c, err)
		return
	}
	txn := c.Param("txnId")
	if txn == "" {
		txn = c.Query("txnId")
	}
	if txn == "" || len(txn) > 200 {
		sum := sha256.Sum256(body)
		txn = "sha256:" + hex.EncodeToString(sum[:])
	}
	ctx := c.Request.Context()
	if seen, err := s.d.Store.SeenDelivery(ctx, "matrix", txn); err != nil {
		writeProblem(c, err)
		return
	} else if seen {
		c.JSON(http.StatusOK, gin.H{})
		return
	}
	var tr matrix.Transaction
	// Matrix events carry many fields the orchestrator ignores: decode leniently.
	if err := jsonUnmarshalLenient(body, &tr); err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"errcode": "M_NOT_JSON", "error": "body is not a transaction"})
		return
	}
	for _, ev := range tr.Events {
		if ev.Type != "m.room.message" {
			continue
		}
		cmd, ok := matrix.ParseCommand(ev.Content.Body)
		if !ok {
			continue
		}
		sub, ok := wh.MatrixUserSubjects[ev.Sender]
		if !ok {
			loggerFrom(c).Warn("matrix decision from an unmapped user", "sender", ev.Sender)
			continue
		}
		if !store.ValidID(cmd.ApprovalID) {
			continue
		}
		h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: contract.EscalationWorkflowID(cmd.ApprovalID), UpdateName: contract.UpdateDecide,
			UpdateID: "matrix-" + ev.EventID, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{contract.DecisionRequest{Status: cmd.Status, Comment: clip(cmd.Comment, contract.MaxCommentBytes/4),
				DeciderID: sub, DeciderName: ev.Sender, Channel: store.ChannelWebhook}},
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			loggerFrom(c).Info("matrix decision refused", "approval", cmd.ApprovalID, "sender", ev.Sender, "error", err.Error())
		}
	}
	if err := s.d.Store.RecordDelivery(ctx, "matrix", txn); err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}
