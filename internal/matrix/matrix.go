// Package matrix speaks the two halves of the Matrix protocol the
// orchestrator uses: the application-service push of room events (incoming
// !approve / !reject commands) and the client-server API to post m.notice
// announcements. Spec v1.19.
package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client posts to a homeserver as the application service.
type Client struct {
	base    string
	asToken string
	hc      *http.Client
}

// New builds a client; nil hc uses a 10-second timeout.
func New(homeserverURL, asToken string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(homeserverURL, "/"), asToken: asToken, hc: hc}
}

// APIError is a homeserver's refusal.
type APIError struct {
	StatusCode int
	ErrCode    string
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("matrix: %d %s: %s", e.StatusCode, e.ErrCode, e.Message)
}

// IsPermanent reports whether retrying err can never help (4xx but rate
// limits and timeouts).
func IsPermanent(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests && ae.StatusCode != http.StatusRequestTimeout
}

// SendNotice posts an m.notice to room. The transaction id makes a retry
// idempotent: the homeserver returns the first event instead of a second.
func (c *Client) SendNotice(ctx context.Context, roomID, txnID, body string) (string, error) {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + url.PathEscape(txnID)
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := c.do(ctx, http.MethodPut, path, map[string]string{"msgtype": "m.notice", "body": body}, &out); err != nil {
		return "", err
	}
	return out.EventID, nil
}

// Join makes the application service's user join a room (needed once before
// sending).
func (c *Client) Join(ctx context.Context, roomIDOrAlias string) error {
	return c.do(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(roomIDOrAlias), map[string]any{}, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("matrix: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("matrix: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.asToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("matrix: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("matrix: read response: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			ErrCode string `json:"errcode"`
			Error   string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return &APIError{StatusCode: resp.StatusCode, ErrCode: e.ErrCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("matrix: decode response: %w", err)
		}
	}
	return nil
}

// Transaction is what the homeserver pushes to the application service.
type Transaction struct {
	Events []Event `json:"events"`
}

// Event is a room event; only what the orchestrator reads.
type Event struct {
	Type    string  `json:"type"`
	EventID string  `json:"event_id"`
	RoomID  string  `json:"room_id"`
	Sender  string  `json:"sender"`
	Content Content `json:"content"`
}

// Content of an m.room.message.
type Content struct {
	MsgType string `json:"msgtype"`
	Body    string `json:"body"`
}

// Command is a decision typed into a room: "!approve <id> [comment]".
type Command struct {
	Status     string // approved or rejected
	ApprovalID string
	Comment    string
}

// ParseCommand reads a decision command from a message body; ok is false for
// any other message.
func ParseCommand(body string) (Command, bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return Command{}, false
	}
	var status string
	switch strings.ToLower(fields[0]) {
	case "!approve":
		status = "approved"
	case "!reject":
		status = "rejected"
	default:
		return Command{}, false
	}
	rest := strings.TrimSpace(strings.TrimPrefix(line, fields[0]))
	rest = strings.TrimSpace(strings.TrimPrefix(rest, fields[1]))
	return Command{Status: status, ApprovalID: fields[1], Comment: rest}, true
}
