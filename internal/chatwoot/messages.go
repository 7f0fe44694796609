package chatwoot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Message types as Chatwoot's REST API reports them (an integer). Webhooks
// use the names instead; see the WebhookMessage* constants.
const (
	MessageTypeIncoming = 0
	MessageTypeOutgoing = 1
	MessageTypeActivity = 2
	MessageTypeTemplate = 3
)

// EchoIDAttribute is the content_attributes key that carries our echo id.
//
// Chatwoot keeps the top-level echo_id only in memory (Message#echo_id is an
// attr_accessor): it comes back in the create response and in ActionCable
// events, but not in GET …/messages and not in webhooks. content_attributes
// is a stored JSON column that the create endpoint accepts as given and that
// both the message list and the message_created webhook return, so the echo
// id is written there as well and read from there when reconciling.
const EchoIDAttribute = "echo_id"

// MaxContentLength is Chatwoot's limit on a message's content, in characters.
const MaxContentLength = 150_000

const (
	// listPageSize is how many messages Chatwoot returns per page when
	// paging backwards (MessageFinder's limit).
	listPageSize = 20
	// maxFindPages stops FindMessageByEchoID from walking a huge history.
	maxFindPages = 50
	// clockSkewAllowance widens FindMessageByEchoID's notBefore bound: the
	// created_at it compares is Chatwoot's clock, notBefore is ours.
	clockSkewAllowance = 5 * time.Minute
)

// NewMessage is a message or private note to post.
type NewMessage struct {
	Content string
	// Private makes an internal note the customer never sees.
	Private bool
	// MessageType is "outgoing" (the default) or "incoming"; Chatwoot refuses
	// "incoming" (422) except on API-channel inboxes.
	MessageType string
	// EchoID, when set, is sent as echo_id and stored in
	// content_attributes[EchoIDAttribute], so that the message can be found
	// again (FindMessageByEchoID) and recognised in webhooks.
	EchoID string
}

// Message is a message as Chatwoot's REST API returns it (the create response
// and the message list share one shape).
type Message struct {
	ID             int64  `json:"id"`
	Content        string `json:"content"`
	InboxID        int64  `json:"inbox_id"`
	ConversationID int64  `json:"conversation_id"` // the display id
	AccountID      int64  `json:"account_id"`      // only in webhook copies
	// MessageType is one of the MessageType* integers.
	MessageType       int               `json:"message_type"`
	ContentType       string            `json:"content_type"`
	ContentAttributes ContentAttributes `json:"content_attributes"`
	Private           bool              `json:"private"`
	Status            string            `json:"status"`
	SourceID          string            `json:"source_id"`
	// EchoID is the top-level echo_id when Chatwoot returned one (create
	// response only), otherwise content_attributes[EchoIDAttribute].
	EchoID    string  `json:"echo_id"`
	CreatedAt int64   `json:"created_at"` // unix seconds
	Sender    *Sender `json:"sender"`
}

// UnmarshalJSON fills EchoID from content_attributes when the top-level field
// is absent, which it is everywhere but in the create response.
func (m *Message) UnmarshalJSON(data []byte) error {
	type plain Message
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*m = Message(p)
	if m.EchoID == "" {
		m.EchoID = m.ContentAttributes.String(EchoIDAttribute)
	}
	return nil
}

// ContentAttributes is a message's content_attributes object. Old Chatwoot
// rows hold it double-encoded, so a JSON string containing an object is
// accepted too; anything else decodes as empty.
type ContentAttributes map[string]any

// UnmarshalJSON accepts an object, a string holding an object, or null.
func (a *ContentAttributes) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		data = []byte(s)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		// Tolerate shapes we do not understand: content_attributes is
		// informational except for our own echo id.
		*a = nil
		return nil
	}
	*a = m
	return nil
}

// String returns the attribute key as a string, "" when absent or not a
// string.
func (a ContentAttributes) String(key string) string {
	s, _ := a[key].(string)
	return s
}

// PostMessage posts a message or private note to a conversation.
//
// It is not idempotent: Chatwoot has no idempotency key, so a retry after a
// lost response posts a second copy. Record what was sent, and before
// resending after an uncertain outcome look for the EchoID with
// FindMessageByEchoID.
func (c *Client) PostMessage(ctx context.Context, accountID, conversationID int, m NewMessage) (*Message, error) {
	path, err := accountPath(accountID, conversationID, "/messages")
	if err != nil {
		return nil, err
	}
	if m.Content == "" {
		return nil, fmt.Errorf("%w: empty message content", ErrInvalidArgument)
	}
	if !utf8.ValidString(m.Content) {
		return nil, fmt.Errorf("%w: message content is not valid UTF-8", ErrInvalidArgument)
	}
	if n := utf8.RuneCountInString(m.Content); n > MaxContentLength {
		return nil, fmt.Errorf("%w: message content has %d characters, Chatwoot allows %d", ErrInvalidArgument, n, MaxContentLength)
	}
	switch m.MessageType {
	case "":
		m.MessageType = "outgoing"
	case "outgoing", "incoming":
	default:
		return nil, fmt.Errorf("%w: message type %q (want outgoing or incoming)", ErrInvalidArgument, m.MessageType)
	}
	if len(m.EchoID) > 255 {
		return nil, fmt.Errorf("%w: echo id longer than 255 bytes", ErrInvalidArgument)
	}

	body := struct {
		Content           string            `json:"content"`
		MessageType       string            `json:"message_type"`
		Private           bool              `json:"private"`
		EchoID            string            `json:"echo_id,omitempty"`
		ContentAttributes map[string]string `json:"content_attributes,omitempty"`
	}{Content: m.Content, MessageType: m.MessageType, Private: m.Private, EchoID: m.EchoID}
	if m.EchoID != "" {
		body.ContentAttributes = map[string]string{EchoIDAttribute: m.EchoID}
	}

	var out Message
	if err := c.do(ctx, http.MethodPost, path, nil, body, &out, maxResponseBytes); err != nil {
		return nil, err
	}
	if out.ID == 0 {
		return nil, fmt.Errorf("chatwoot: POST %s: response carries no message id", path)
	}
	return &out, nil
}

// Page selects a page of a conversation's messages. The zero Page is the
// newest 20. Before (a message id) gives the 20 messages older than it, After
// up to 100 newer than it, both oldest first, as Chatwoot's MessageFinder
// does.
type Page struct {
	Before int64
	After  int64
}

// ListMessages returns the newest page (up to 20 messages, oldest first,
// activity messages and private notes included).
func (c *Client) ListMessages(ctx context.Context, accountID, conversationID int) ([]Message, error) {
	return c.ListMessagesPage(ctx, accountID, conversationID, Page{})
}

// ListMessagesPage returns one page of a conversation's messages.
func (c *Client) ListMessagesPage(ctx context.Context, accountID, conversationID int, p Page) ([]Message, error) {
	path, err := accountPath(accountID, conversationID, "/messages")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if p.Before > 0 {
		q.Set("before", strconv.FormatInt(p.Before, 10))
	}
	if p.After > 0 {
		q.Set("after", strconv.FormatInt(p.After, 10))
	}
	var out struct {
		Payload []Message `json:"payload"`
	}
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out, maxListBytes); err != nil {
		return nil, err
	}
	return out.Payload, nil
}

// FindMessageByEchoID looks for the message posted with echoID, walking the
// conversation backwards from the newest message. It stops when it finds it,
// when it reaches messages created before notBefore (less a five-minute
// allowance for clock skew; zero means no bound), at the start of the
// conversation, or after 1,000 messages.
//
// The lookup matches content_attributes[EchoIDAttribute] (the top-level
// echo_id is never returned by the list). Use it after an uncertain
// PostMessage (timeout, crash before the result was recorded): found means
// "already sent, record it", not found means "safe to send".
func (c *Client) FindMessageByEchoID(ctx context.Context, accountID, conversationID int, echoID string, notBefore time.Time) (*Message, bool, error) {
	if echoID == "" {
		return nil, false, fmt.Errorf("%w: empty echo id", ErrInvalidArgument)
	}
	var bound int64
	if !notBefore.IsZero() {
		bound = notBefore.Add(-clockSkewAllowance).Unix()
	}
	p := Page{}
	for range maxFindPages {
		page, err := c.ListMessagesPage(ctx, accountID, conversationID, p)
		if err != nil {
			return nil, false, err
		}
		for i := len(page) - 1; i >= 0; i-- {
			if page[i].EchoID == echoID {
				m := page[i]
				return &m, true, nil
			}
		}
		if len(page) < listPageSize {
			return nil, false, nil
		}
		oldest := page[0]
		if bound != 0 && oldest.CreatedAt < bound {
			return nil, false, nil
		}
		if p.Before != 0 && oldest.ID >= p.Before {
			// A server that ignores "before" would loop forever.
			return nil, false, fmt.Errorf("chatwoot: message paging did not advance past id %d", p.Before)
		}
		p = Page{Before: oldest.ID}
	}
	return nil, false, nil
}
