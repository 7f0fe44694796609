package api

import (
	"context"
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

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Webhooks configures the receivers. They answer fast and leave the work to
// workflows; each delivery is handled once.
type Webhooks struct {
	ChatwootSecret string
	// ChatwootUnsigned accepts unsigned deliveries (old Chatwoot) and starts
	// nothing from them (nobody vouched for their sender); it must be
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
	// MatrixUserSubjects maps Matrix user ids to the Keycloak subjects they
	// decide as; MatrixCommandRooms are the rooms commands are taken from.
	MatrixUserSubjects map[string]string
	MatrixCommandRooms []string
	// ChatwootAgentSubjects maps Chatwoot agent ids to Keycloak subjects;
	// agents not listed are looked up by verified email (Directory).
	ChatwootAgentSubjects map[string]string
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
	if !d.Signed {
		// CHATWOOT_WEBHOOK_UNSIGNED: anyone who can reach this URL could
		// have written the body, so its sender is nobody's identity and it
		// starts nothing, writes nothing into the conversation it names,
		// and tells nothing about it.
		loggerFrom(c).Warn("chatwoot escalation refused: unsigned delivery", "account", account, "conversation", conv.ConversationID)
		return answer(http.StatusOK, "refused", "reason", "the delivery is not signed, so nothing proves who sent it: set CHATWOOT_WEBHOOK_SECRETS to escalate from Chatwoot")
	}
	if existing, err := s.d.Store.PendingForConversation(ctx, store.ScopeOf(tenant), conv); err == nil {
		return answer(http.StatusOK, "already_escalated", "approvalId", existing.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	requester, refusal, err := s.chatwootRequester(ctx, trigger)
	if err != nil {
		return err
	}
	if refusal != "" {
		// Nothing is created for a requester who is nobody in Keycloak:
		// separation of duties could not hold for them. The agents learn
		// why in the conversation.
		loggerFrom(c).Warn("chatwoot escalation refused", "account", account, "conversation", conv.ConversationID,
			"agent", trigger.agent, "reason", refusal)
		s.chatwootNote(c, conv, "orchestrator:refused:"+delivery, "Not escalated: "+refusal)
		return answer(http.StatusOK, "refused", "reason", refusal)
	}
	if err := s.limitCreate(ctx, tenant, requester.ID); err != nil {
		// Not recorded: the same delivery is taken once the window has
		// passed. The agent, who never sees the 429, is told in the
		// conversation.
		var limited *httpError
		if errors.As(err, &limited) && limited.status == http.StatusTooManyRequests {
			s.chatwootNote(c, conv, "orchestrator:limited:"+delivery, "Not escalated: "+limited.detail)
		}
		return err
	}
	in, err := s.escalationInput(ctx, escalation{
		id:       uuid.NewSHA1(idempotencyNamespace, []byte("chatwoot\x00"+delivery)).String(),
		tenantID: tenant, title: trigger.title, description: trigger.description,
		priority:  escalationPriority(ev.Conversation.Priority),
		requester: contract.Actor{ID: requester.ID, Name: requester.Name, Channel: store.ChannelChatwoot},
		metadata: store.MustJSON(map[string]any{
			"source": "chatwoot", "delivery": delivery, "chatwootAgentId": trigger.agent, "requesterMapped": true,
		}),
		conversation: &conv,
	})
	if err != nil {
		return err
	}
	opts := contract.EscalationStart(s.d.TaskQueue, in.Approval)
	logWorkflow(c, opts.ID)
	logTenant(c, tenant)
	if _, err := s.d.Temporal.ExecuteWorkflow(ctx, opts, contract.EscalationWorkflow, in); err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			return err
		}
	}
	return answer(http.StatusAccepted, "escalated", "approvalId", in.Approval.ID)
}

type trigger struct {
	title, description string
	// The Chatwoot agent who asked (0: none known) and their email, if
	// Chatwoot sent it. For a label, who added it is never known: the
	// conversation's assignee asks.
	agent                 int64
	agentName, agentEmail string
	label                 bool
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
		// Cleaned like the API's text: the note is an agent's free text.
		t := trigger{
			title:       clip(strings.TrimSpace(store.CleanText(first, false)), maxTitle),
			description: clip(strings.TrimSpace(store.CleanText(rest, true)), maxDescription),
			agent:       ev.Sender.ID, agentName: ev.Sender.Name, agentEmail: ev.Sender.Email,
		}
		if t.title == "" {
			t.title = fmt.Sprintf("Escalation of conversation #%d", ev.Conversation.ID)
		}
		return t, true
	case ev.Event == chatwoot.EventConversationUpdated:
		change, ok := ev.LabelChange()
		if !ok || !containsFold(change.Added, "escalate") {
			return trigger{}, false
		}
		t := trigger{title: fmt.Sprintf("Escalation of conversation #%d", ev.Conversation.ID), label: true}
		if m := ev.Conversation.Meta; m != nil && m.Assignee != nil {
			t.agent, t.agentName, t.agentEmail = m.Assignee.ID, m.Assignee.Name, m.Assignee.Email
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

// chatwootPerson is who asked for an escalation in Chatwoot, as the
// Keycloak user they are.
type chatwootPerson struct {
	ID, Name string
}

// chatwootRequester maps the Chatwoot agent who asked to their Keycloak
// subject, so that separation of duties holds for them: the explicit
// CHATWOOT_AGENT_SUBJECTS mapping first, then the Keycloak user whose
// verified email is the agent's. When there is nobody to map (an
// unassigned conversation) or the agent is found neither way, refusal says
// why, for the agents to read.
func (s *Server) chatwootRequester(ctx context.Context, t trigger) (p chatwootPerson, refusal string, err error) {
	const fix = "ask an administrator to map the agent in CHATWOOT_AGENT_SUBJECTS or to give their company (Keycloak) account the same verified email."
	switch {
	case t.label && t.agent <= 0:
		return p, "the conversation has no assignee, and an escalation by label is asked for by the assignee. Assign the conversation, then add the label again.", nil
	case t.agent <= 0:
		return p, "the agent who asked is not known.", nil
	}
	who := "this agent"
	if t.label {
		who = "the conversation's assignee"
	}
	unlinked := fmt.Sprintf("%s (Chatwoot agent %d) is not linked to a company account: %s", who, t.agent, fix)
	name := store.CleanText(clip(t.agentName, contract.MaxUserIDChars), false)
	if sub, ok := s.d.Webhooks.ChatwootAgentSubjects[strconv.FormatInt(t.agent, 10)]; ok {
		return chatwootPerson{ID: sub, Name: name}, "", nil
	}
	if t.agentEmail == "" || s.d.Directory == nil {
		return p, unlinked, nil
	}
	found, err := s.d.Directory.ByVerifiedEmail(ctx, t.agentEmail)
	if err != nil {
		return p, "", fmt.Errorf("look up chatwoot agent %d by email: %w", t.agent, err)
	}
	if found == nil {
		return p, unlinked, nil
	}
	return chatwootPerson{ID: found.Subject, Name: found.Name}, "", nil
}

// chatwootNote posts a private note to a conversation, once per echo id as
// far as deliveries are handled once; a note that cannot be sent is logged,
// not retried.
func (s *Server) chatwootNote(c *gin.Context, conv store.Conversation, echoID, text string) {
	if s.d.ChatwootNote == nil {
		return
	}
	if err := s.d.ChatwootNote(c.Request.Context(), conv, echoID, text); err != nil {
		loggerFrom(c).Warn("chatwoot note not sent", "account", conv.AccountID, "conversation", conv.ConversationID, "error", err.Error())
	}
}
