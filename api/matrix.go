package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

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

// matrixTransaction is the application-service endpoint: the homeserver
// pushes room events; "!approve <id> [comment]" and "!reject <id> [comment]"
// from a command room are decisions, allowed by the same authority as the
// API's, for the Keycloak user the sender is mapped to.
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
		if !slices.Contains(wh.MatrixCommandRooms, ev.RoomID) {
			// Not a room the operator chose for decisions: no answer there.
			loggerFrom(c).Warn("matrix command outside the command rooms", "room", ev.RoomID, "sender", ev.Sender)
			continue
		}
		if err := s.matrixDecide(c, ev, cmd); err != nil {
			var refused *matrixRefusal
			if !errors.As(err, &refused) {
				writeProblem(c, err) // transient: the homeserver retries the transaction
				return
			}
			loggerFrom(c).Info("matrix decision refused", "approval", cmd.ApprovalID, "sender", ev.Sender, "reason", refused.reason)
			s.matrixNotice(c, ev, "Not decided: "+refused.reason)
		}
	}
	if err := s.d.Store.RecordDelivery(ctx, "matrix", txn); err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
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

// matrixNotice answers a command in its room; failing to answer changes
// nothing that was decided.
func (s *Server) matrixNotice(c *gin.Context, ev matrix.Event, body string) {
	if s.d.MatrixNotice == nil {
		return
	}
	if err := s.d.MatrixNotice(c.Request.Context(), ev.RoomID, "refusal-"+ev.EventID, body); err != nil {
		loggerFrom(c).Warn("matrix refusal notice not sent", "room", ev.RoomID, "error", err.Error())
	}
}
