package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/decision"
	"github.com/orchestrator-dev/orchestrator/internal/matrix"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Directory finds people in the identity provider, with the groups and
// roles that say where they may decide, for channels that carry no token of
// theirs (Matrix, Chatwoot). A person it does not know is nil, not an error.
type Directory interface {
	Principal(ctx context.Context, subject string) (*auth.Principal, error)
	ByVerifiedEmail(ctx context.Context, email string) (*auth.Principal, error)
}

// MatrixNoticeFunc posts a notice to a Matrix room; txnID makes it once only.
type MatrixNoticeFunc func(ctx context.Context, roomID, txnID, body string) error

// MaxMatrixTransactionBytes caps a Matrix transaction's body. A homeserver
// sends up to 100 events per transaction (Synapse's MAX_EVENTS_PER_TRANSACTION)
// and an event is at most 64 KiB (the spec's size limit); JSON escaping in
// the transaction's own encoding can grow an event a little, hence the margin
// above 6.25 MiB. A transaction the homeserver may legally send must never be
// refused: it would retry it for ever and queue every later one behind it.
const MaxMatrixTransactionBytes = 7 << 20

// matrixNoticeTimeout bounds one notice, and recording the transaction.
// Both are done with it even when the transaction's own time has run out, so
// that a command that could not be taken is still answered and the
// transaction is not sent again.
const matrixNoticeTimeout = 5 * time.Second

// matrixTransaction is the application-service endpoint: the homeserver
// pushes room events; "!approve <id> [comment]" and "!reject <id> [comment]"
// from a command room are decisions, allowed by the same authority as the
// API's, for the Keycloak user the sender is mapped to.
//
// The homeserver retries a transaction it got no 2xx for, and holds every
// later one until it succeeds: so one event never fails a transaction. An
// event that cannot be read is skipped and logged; a command that fails
// (refused, or a dependency down) is answered in its room; the transaction
// is acknowledged once it is recorded, and a retry of it (the same txnId) is
// acknowledged without being processed again.
func (s *Server) matrixTransaction(c *gin.Context) {
	wh := s.d.Webhooks
	if wh.MatrixHSToken == "" {
		writeProblem(c, errNotFound)
		return
	}
	tok := strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer ")
	if tok == "" {
		tok = c.Query("access_token") // older homeservers
	}
	if !hmac.Equal([]byte(tok), []byte(wh.MatrixHSToken)) {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"errcode": "M_FORBIDDEN", "error": "bad hs_token"})
		return
	}
	// The same bound as every other route's work.
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.d.Timeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	body, err := readWebhookBody(c, MaxMatrixTransactionBytes)
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
	if seen, err := s.d.Store.SeenDelivery(ctx, "matrix", txn); err != nil {
		writeProblem(c, err)
		return
	} else if seen {
		c.JSON(http.StatusOK, gin.H{})
		return
	}
	// Each event is decoded on its own: one the orchestrator cannot read is
	// skipped, not a reason to refuse the others.
	var tr struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := jsonUnmarshalLenient(body, &tr); err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"errcode": "M_NOT_JSON", "error": "body is not a transaction"})
		return
	}
	log := loggerFrom(c).With("txn", clip(txn, 80))
	for i, raw := range tr.Events {
		var ev matrix.Event
		if err := jsonUnmarshalLenient(raw, &ev); err != nil {
			log.Warn("matrix event skipped: not readable", "index", i, "error", err.Error())
			continue
		}
		s.matrixEvent(c, log, ev)
	}
	// Recorded even when the commands used up the transaction's time, with
	// a little of its own: otherwise the homeserver sends it again, and it
	// runs out of time again.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), matrixNoticeTimeout)
	defer rcancel()
	if err := s.d.Store.RecordDelivery(rctx, "matrix", txn); err != nil {
		writeProblem(c, err) // not recorded: the retry is processed again, each command once (see matrixDecide)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// matrixEvent takes one event of a transaction: a command from a command
// room is decided, or answered with why it was not.
func (s *Server) matrixEvent(c *gin.Context, log *slog.Logger, ev matrix.Event) {
	if ev.Type != "m.room.message" {
		return
	}
	cmd, ok := matrix.ParseCommand(ev.Content.Body)
	if !ok {
		return
	}
	log = log.With("event", clip(ev.EventID, 200), "room", clip(ev.RoomID, 200), "sender", clip(ev.Sender, 200))
	if !slices.Contains(s.d.Webhooks.MatrixCommandRooms, ev.RoomID) {
		// Not a room the operator chose for decisions: no answer there.
		log.Warn("matrix command outside the command rooms")
		return
	}
	err := s.matrixDecide(c, ev, cmd)
	var refused *matrixRefusal
	switch {
	case err == nil:
	case errors.As(err, &refused):
		log.Info("matrix decision refused", "approval", clip(cmd.ApprovalID, 64), "reason", refused.reason)
		s.matrixNotice(c, log, ev, "refusal-", "Not decided: "+refused.reason)
	default:
		// A dependency failed (the directory, the database, Temporal): the
		// transaction is not held back for it; the sender is told to send
		// the command again, which decides at most once (matrixDecide).
		log.Error("matrix command failed", "approval", clip(cmd.ApprovalID, 64), "error", err.Error())
		s.matrixNotice(c, log, ev, "failed-", "Not decided: the command could not be taken now; send it again in a moment")
	}
}

// matrixRefusal is a command the authority or the workflow refused; the
// sender is told why in the room.
type matrixRefusal struct{ reason string }

func (r *matrixRefusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &matrixRefusal{fmt.Sprintf(format, args...)} }

// matrixDecide takes one command through the decision authority and, if it
// allows it, to the workflow.
func (s *Server) matrixDecide(c *gin.Context, ev matrix.Event, cmd matrix.Command) error {
	ctx := c.Request.Context()
	sub, ok := s.d.Webhooks.MatrixUserSubjects[ev.Sender]
	if !ok {
		return refuse("%s is not mapped to a user (MATRIX_USER_SUBJECTS)", ev.Sender)
	}
	if s.d.Directory == nil {
		return refuse("approver authority cannot be checked: the Keycloak directory is not configured")
	}
	p, err := s.d.Directory.Principal(ctx, sub)
	if err != nil {
		return fmt.Errorf("look up matrix user %s: %w", ev.Sender, err)
	}
	if p == nil {
		return refuse("%s is mapped to a user Keycloak does not know", ev.Sender)
	}
	p.Name = ev.Sender
	if !store.ValidID(cmd.ApprovalID) {
		return refuse("%q is not an approval id", clip(cmd.ApprovalID, 64))
	}
	ap, err := s.d.Store.GetApproval(ctx, scopeOf(p), cmd.ApprovalID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("no approval %s in your tenants", cmd.ApprovalID)
	} else if err != nil {
		return err
	}
	d, err := decision.New(p, decision.Request{Status: cmd.Status, Comment: clip(cmd.Comment, contract.MaxCommentBytes/4), Channel: store.ChannelMatrix})
	if err == nil {
		d, err = decision.Authorize(s.d.DecisionKey, p, ap, d)
	}
	if err == nil {
		err = decision.DeadlineHolds(ap, s.d.Store.Now())
	}
	var fe *contract.FieldError
	switch {
	case errors.As(err, &fe):
		return refuse("%s", fe.Error())
	case errors.Is(err, decision.ErrNotVisible):
		return refuse("no approval %s in your tenants", ap.ID)
	case errors.Is(err, decision.ErrNotApprover):
		return refuse("you are not an approver of %s", ap.TenantID)
	case errors.Is(err, decision.ErrDecided) && decision.Retried(p, ap, cmd.Status):
		return nil // this command, delivered again after a failed transaction
	case errors.Is(err, decision.ErrSelfDecision), errors.Is(err, decision.ErrDecided), errors.Is(err, decision.ErrExpired):
		return refuse("%s", err.Error())
	case err != nil:
		return err
	}
	err = s.update(c, contract.EscalationWorkflowID(ap.ID), contract.UpdateDecide, "matrix-"+ev.EventID, d, nil,
		refuse("the approval was decided meanwhile"))
	if err != nil && !errors.As(err, new(*matrixRefusal)) {
		if h := toHTTPError(err); h.status < 500 {
			return refuse("%s", h.detail)
		}
	}
	return err
}

// matrixNotice answers a command in its room, once per event and kind
// (prefix); failing to answer changes nothing that was decided. It has its
// own time: the command it answers may have failed because the
// transaction's ran out.
func (s *Server) matrixNotice(c *gin.Context, log *slog.Logger, ev matrix.Event, prefix, body string) {
	if s.d.MatrixNotice == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), matrixNoticeTimeout)
	defer cancel()
	if err := s.d.MatrixNotice(ctx, ev.RoomID, prefix+ev.EventID, body); err != nil {
		log.Warn("matrix notice not sent", "error", err.Error())
	}
}
