package chatwoot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxWebhookBytes bounds a webhook body. A message_created payload carries the
// message and, inside the conversation, the last chat message again; with
// Chatwoot's 150,000-character limit that alone can pass 1 MiB. Use the same
// bound for http.MaxBytesReader in the handler.
const MaxWebhookBytes = 4 << 20

// Webhook event names.
const (
	EventMessageCreated            = "message_created"
	EventMessageUpdated            = "message_updated"
	EventConversationCreated       = "conversation_created"
	EventConversationUpdated       = "conversation_updated"
	EventConversationStatusChanged = "conversation_status_changed"
	EventContactCreated            = "contact_created"
	EventContactUpdated            = "contact_updated"
	EventWebwidgetTriggered        = "webwidget_triggered"
	EventConversationTypingOn      = "conversation_typing_on"
	EventConversationTypingOff     = "conversation_typing_off"
)

// Message types as webhooks name them (the REST API uses integers, see
// MessageType*). Activity messages are never delivered by webhook.
const (
	WebhookMessageIncoming = "incoming"
	WebhookMessageOutgoing = "outgoing"
	WebhookMessageActivity = "activity"
	WebhookMessageTemplate = "template"
)

// Sender types in webhook payloads.
const (
	SenderUser     = "user"    // an agent (or the token's user: our own posts)
	SenderContact  = "contact" // the customer
	SenderAgentBot = "agent_bot"
)

// ErrInvalidWebhook marks a body that is not a usable Chatwoot webhook.
var ErrInvalidWebhook = errors.New("chatwoot webhook: invalid payload")

const (
	maxEventName    = 64
	maxLabels       = 1000
	maxChangedAttrs = 256
)

// Account is the account reference in message payloads.
type Account struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Inbox is the inbox reference in message payloads.
type Inbox struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Sender is who wrote a message (agents are Type "user", customers
// "contact"). The same shape, without Email, describes an assignee.
type Sender struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Type  string `json:"type"`
}

// Team is the team a conversation is assigned to.
type Team struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// ConversationMeta is a conversation's meta block.
type ConversationMeta struct {
	Sender   *Sender `json:"sender"` // the contact
	Assignee *Sender `json:"assignee"`
	Team     *Team   `json:"team"`
}

// Conversation is the conversation part of a webhook: nested under
// "conversation" in message events, at the top level in conversation events.
type Conversation struct {
	// ID is the per-account display id, the one the REST paths take.
	ID       int64             `json:"id"`
	InboxID  int64             `json:"inbox_id"`
	Status   string            `json:"status"`
	Priority string            `json:"priority"` // "" when none
	Labels   []string          `json:"labels"`
	Channel  string            `json:"channel"`
	Meta     *ConversationMeta `json:"meta"`
}

// AttributeChange is one entry of changed_attributes. Previous and Current
// are the raw JSON values (Chatwoot sends whatever type the column has).
type AttributeChange struct {
	Attribute string
	Previous  json.RawMessage
	Current   json.RawMessage
}

// AttributeChanges is a conversation_updated event's changed_attributes.
// Chatwoot sends a list of one-key objects,
// [{"label_list": {"previous_value": [...], "current_value": [...]}}, ...];
// a single object holding several keys is accepted too.
type AttributeChanges []AttributeChange

// UnmarshalJSON accepts a list of objects, one object, or null.
func (c *AttributeChanges) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		*c = nil
		return nil
	}
	var objs []map[string]json.RawMessage
	if data[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(data, &one); err != nil {
			return fmt.Errorf("changed_attributes: %w", err)
		}
		objs = append(objs, one)
	} else if err := json.Unmarshal(data, &objs); err != nil {
		return fmt.Errorf("changed_attributes: %w", err)
	}
	var out AttributeChanges
	for _, obj := range objs {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var pair struct {
				Previous json.RawMessage `json:"previous_value"`
				Current  json.RawMessage `json:"current_value"`
			}
			if err := json.Unmarshal(obj[k], &pair); err != nil {
				// Not a {previous_value, current_value} pair: keep the
				// raw value as the current one rather than failing.
				pair.Current = obj[k]
			}
			out = append(out, AttributeChange{Attribute: k, Previous: pair.Previous, Current: pair.Current})
		}
	}
	*c = out
	return nil
}

// Get returns the change of one attribute.
func (c AttributeChanges) Get(attribute string) (AttributeChange, bool) {
	for _, ch := range c {
		if ch.Attribute == attribute {
			return ch, true
		}
	}
	return AttributeChange{}, false
}

// maxUnixSeconds (year 5138) separates plausible unix seconds from noise.
const maxUnixSeconds = 1e11

// Timestamp decodes Chatwoot's times: unix seconds (integer or fractional) in
// most places, an ISO 8601 string in message webhooks. A value it cannot read
// leaves the zero time rather than failing the event.
type Timestamp struct{ time.Time }

// UnmarshalJSON implements the leniency described on Timestamp.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	t.Time = time.Time{}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil
	}
	if data[0] == '"' {
		var s string
		if json.Unmarshal(data, &s) != nil {
			return nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
			if v, err := time.Parse(layout, s); err == nil {
				t.Time = v
				return nil
			}
		}
		data = []byte(s)
	}
	if f, err := strconv.ParseFloat(string(data), 64); err == nil && f > 0 && f < maxUnixSeconds {
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return nil
}

// WebhookEvent is a Chatwoot webhook body. The fields mirror the wire format
// (unknown fields are ignored) except where noted.
//
// Message events (message_created, message_updated) fill the message fields,
// Account, Inbox, Sender and Conversation. Conversation events
// (conversation_created, conversation_updated, conversation_status_changed)
// carry the conversation at the top level: ParseWebhook decodes it into
// Conversation as well, so e.Conversation.ID is the display id for both
// kinds, and fills ChangedAttributes.
type WebhookEvent struct {
	Event string `json:"event"`

	// ID is the message id in message events and the conversation's display
	// id in conversation events.
	ID int64 `json:"id"`

	Content string `json:"content"`
	// MessageType is incoming|outgoing|activity|template (WebhookMessage*).
	// An integer, as some forks send, is translated.
	MessageType       string            `json:"-"`
	ContentType       string            `json:"content_type"`
	ContentAttributes ContentAttributes `json:"content_attributes"`
	Private           bool              `json:"private"`
	SourceID          string            `json:"source_id"`
	// EchoID is the echo id we set when posting the message: the top-level
	// echo_id if present (upstream Chatwoot does not send it in webhooks),
	// otherwise content_attributes[EchoIDAttribute]. Empty for messages we
	// did not post.
	EchoID    string    `json:"echo_id"`
	CreatedAt Timestamp `json:"created_at"`

	Account      *Account      `json:"account"`
	Inbox        *Inbox        `json:"inbox"`
	Sender       *Sender       `json:"sender"`
	Conversation *Conversation `json:"conversation"`

	ChangedAttributes AttributeChanges `json:"changed_attributes"`

	// AccountID is resolved by ParseWebhook: account.id (message events),
	// else a top-level account_id (some forks), else the account_id of the
	// conversation's last message. Upstream conversation_* payloads name no
	// account, so it can be 0: route those by webhook URL or configuration.
	AccountID int64 `json:"-"`
}

// IsMessageEvent reports whether e is message_created or message_updated.
func (e *WebhookEvent) IsMessageEvent() bool {
	return e.Event == EventMessageCreated || e.Event == EventMessageUpdated
}

// IsConversationEvent reports whether the conversation is at the top level.
func (e *WebhookEvent) IsConversationEvent() bool {
	switch e.Event {
	case EventConversationCreated, EventConversationUpdated, EventConversationStatusChanged:
		return true
	}
	return false
}

// FromAgent reports whether a message was written by an agent (or by the
// API token's user, i.e. by us; check EchoID to tell those apart).
func (e *WebhookEvent) FromAgent() bool { return e.Sender != nil && e.Sender.Type == SenderUser }

// LabelChange describes a change of a conversation's labels.
type LabelChange struct {
	Previous, Current []string
	Added, Removed    []string
}

// LabelChange returns the label change a conversation_updated event carries,
// from changed_attributes' label_list (a list) or, failing that,
// cached_label_list (a comma-separated string).
func (e *WebhookEvent) LabelChange() (LabelChange, bool) {
	ch, ok := e.ChangedAttributes.Get("label_list")
	if !ok {
		if ch, ok = e.ChangedAttributes.Get("cached_label_list"); !ok {
			return LabelChange{}, false
		}
	}
	prev, err1 := decodeLabelList(ch.Previous)
	cur, err2 := decodeLabelList(ch.Current)
	if err1 != nil || err2 != nil {
		return LabelChange{}, false
	}
	lc := LabelChange{Previous: prev, Current: cur}
	lc.Added = labelDiff(cur, prev)
	lc.Removed = labelDiff(prev, cur)
	return lc, true
}

func decodeLabelList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		var out []string
		for _, l := range strings.Split(s, ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out, nil
	}
	var out []string
	err := json.Unmarshal(raw, &out)
	return out, err
}

// labelDiff returns the labels of a missing from b, compared without case.
func labelDiff(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, l := range b {
		in[strings.ToLower(l)] = true
	}
	var out []string
	for _, l := range a {
		if !in[strings.ToLower(l)] {
			out = append(out, l)
		}
	}
	return out
}

// ParseWebhook decodes a webhook body (already authenticated with
// VerifySignature). It refuses bodies over MaxWebhookBytes, non-objects,
// events without a plausible name, and message or conversation events
// without their ids; unknown fields and unknown events are accepted.
func ParseWebhook(body []byte) (*WebhookEvent, error) {
	if len(body) > MaxWebhookBytes {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalidWebhook, len(body), MaxWebhookBytes)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidWebhook)
	}

	type wire WebhookEvent
	var w struct {
		wire
		RawMessageType json.RawMessage `json:"message_type"`
		RawAccountID   *int64          `json:"account_id"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidWebhook, err)
	}
	e := WebhookEvent(w.wire)
	e.MessageType = messageTypeName(w.RawMessageType)

	if err := checkEventName(e.Event); err != nil {
		return nil, err
	}
	if e.IsConversationEvent() && e.Conversation == nil {
		var conv Conversation
		if err := json.Unmarshal(body, &conv); err != nil {
			return nil, fmt.Errorf("%w: conversation: %w", ErrInvalidWebhook, err)
		}
		e.Conversation = &conv
	}
	if e.EchoID == "" {
		e.EchoID = e.ContentAttributes.String(EchoIDAttribute)
	}
	e.AccountID = resolveAccountID(&e, w.RawAccountID, body)

	if err := checkEvent(&e); err != nil {
		return nil, err
	}
	return &e, nil
}

func checkEventName(name string) error {
	if name == "" || len(name) > maxEventName {
		return fmt.Errorf("%w: missing or oversized event name", ErrInvalidWebhook)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && r != '_' {
			return fmt.Errorf("%w: event name %q", ErrInvalidWebhook, name)
		}
	}
	return nil
}

func checkEvent(e *WebhookEvent) error {
	if e.IsMessageEvent() {
		if e.ID <= 0 || e.Conversation == nil || e.Conversation.ID <= 0 {
			return fmt.Errorf("%w: %s without message or conversation id", ErrInvalidWebhook, e.Event)
		}
	}
	if e.IsConversationEvent() && e.Conversation.ID <= 0 {
		return fmt.Errorf("%w: %s without conversation id", ErrInvalidWebhook, e.Event)
	}
	if e.Conversation != nil && len(e.Conversation.Labels) > maxLabels {
		return fmt.Errorf("%w: %d labels", ErrInvalidWebhook, len(e.Conversation.Labels))
	}
	if len(e.ChangedAttributes) > maxChangedAttrs {
		return fmt.Errorf("%w: %d changed attributes", ErrInvalidWebhook, len(e.ChangedAttributes))
	}
	return nil
}

// messageTypeName maps message_type to its name; webhooks send the name,
// the REST API and some forks the integer.
func messageTypeName(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		switch n {
		case MessageTypeIncoming:
			return WebhookMessageIncoming
		case MessageTypeOutgoing:
			return WebhookMessageOutgoing
		case MessageTypeActivity:
			return WebhookMessageActivity
		case MessageTypeTemplate:
			return WebhookMessageTemplate
		}
	}
	return ""
}

func resolveAccountID(e *WebhookEvent, top *int64, body []byte) int64 {
	if e.Account != nil && e.Account.ID > 0 {
		return e.Account.ID
	}
	if top != nil && *top > 0 {
		return *top
	}
	// The conversation's last chat message (push_event_data) carries the
	// account id; it sits under "messages" at the top level of conversation
	// events and under "conversation" in others. Best effort only.
	var probe struct {
		Messages []struct {
			AccountID int64 `json:"account_id"`
		} `json:"messages"`
		Conversation *struct {
			AccountID int64 `json:"account_id"`
			Messages  []struct {
				AccountID int64 `json:"account_id"`
			} `json:"messages"`
		} `json:"conversation"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return 0
	}
	for _, m := range probe.Messages {
		if m.AccountID > 0 {
			return m.AccountID
		}
	}
	if c := probe.Conversation; c != nil {
		if c.AccountID > 0 {
			return c.AccountID
		}
		for _, m := range c.Messages {
			if m.AccountID > 0 {
				return m.AccountID
			}
		}
	}
	return 0
}

// Reasons WebhookAuth refuses a delivery, besides VerifySignature's and
// ErrInvalidWebhook.
var (
	// ErrBadPathAccount is an account in the webhook URL that is not a
	// positive number.
	ErrBadPathAccount = errors.New("chatwoot webhook: the account in the URL is not a positive number")
	// ErrAccountMismatch is a delivery posted to one account's URL whose
	// signed body names another account.
	ErrAccountMismatch = errors.New("chatwoot webhook: the account in the URL differs from the account the body names")
)

// WebhookAuth authenticates webhook deliveries. Each account signs with its
// own secret, so holding one account's secret is no way to post as another;
// the account a delivery is for comes from its signed body, and the URL's
// account (needed for conversation_* events, whose body names none) may only
// repeat it.
type WebhookAuth struct {
	// Secrets are the webhook secrets by account id, in decimal as
	// CHATWOOT_WEBHOOK_SECRETS and CHATWOOT_ACCOUNT_TENANTS write them.
	Secrets map[string]string
	// Secret signs for every account (CHATWOOT_WEBHOOK_SECRET): only for a
	// setup with one account, which configuration enforces.
	Secret string
	// Unsigned accepts deliveries without a signature (Chatwoot before
	// 4.11.2). Nothing about such a delivery is authenticated.
	Unsigned bool
	// Window bounds a delivery's timestamp; DefaultSignatureWindow when 0.
	Window time.Duration
}

// Delivery is an authenticated webhook delivery.
type Delivery struct {
	Event *WebhookEvent
	// AccountID is the account the delivery is for: the body's, else the
	// URL's; 0 when neither names one.
	AccountID int64
	// Key identifies the delivery for deduplication. It is derived from
	// what the signature covers, so a replay cannot dodge it with another
	// X-Chatwoot-Delivery, which nothing signs.
	Key string
	// Signed is whether an account's secret vouched for the body. An
	// unsigned body (WebhookAuth.Unsigned) says who sent it, unproven:
	// never take its sender for a person.
	Signed bool
}

// Authenticate checks a delivery posted to the webhook URL whose account
// segment is pathAccount ("" for the URL without one): it picks the secret
// of the account the delivery claims (the URL's, else the body's), verifies
// signature and timestamp, then parses the body and refuses it if it names
// another account than the URL. Errors wrap ErrBadPathAccount,
// VerifySignature's errors (ErrNoSecret when the account has no secret),
// ErrInvalidWebhook or ErrAccountMismatch.
func (a WebhookAuth) Authenticate(pathAccount string, header http.Header, body []byte, now time.Time) (*Delivery, error) {
	var path int64
	if pathAccount != "" {
		n, err := strconv.ParseInt(pathAccount, 10, 64)
		if err != nil || n <= 0 {
			return nil, ErrBadPathAccount
		}
		path = n
	}
	claimed := path
	if claimed == 0 {
		// Only to choose the secret: nothing read here is trusted before
		// the signature is checked with it.
		claimed = peekAccountID(body)
	}
	if !a.Unsigned {
		secret := a.Secrets[strconv.FormatInt(claimed, 10)]
		if secret == "" {
			secret = a.Secret
		}
		if err := VerifySignature(secret, header.Get(HeaderTimestamp), body, header.Get(HeaderSignature), now, a.Window); err != nil {
			return nil, err
		}
	}
	ev, err := ParseWebhook(body)
	if err != nil {
		return nil, err
	}
	account := ev.AccountID
	switch {
	case path != 0 && account != 0 && account != path:
		return nil, fmt.Errorf("%w: URL %d, body %d", ErrAccountMismatch, path, account)
	case path != 0:
		account = path
	case account != claimed:
		// peekAccountID and ParseWebhook read the account alike; if they
		// ever differ, the secret was chosen for another account.
		return nil, fmt.Errorf("%w: account %d verified as %d", ErrAccountMismatch, account, claimed)
	}
	return &Delivery{Event: ev, AccountID: account, Key: deliveryKey(account, body), Signed: !a.Unsigned}, nil
}

// deliveryKey hashes the account and the body. The timestamp, though signed,
// is left out: Chatwoot may sign a retry anew, and the body alone (message
// ids, times) already tells deliveries apart.
func deliveryKey(account int64, body []byte) string {
	h := sha256.New()
	h.Write([]byte(strconv.FormatInt(account, 10)))
	h.Write([]byte{0})
	h.Write(body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// peekAccountID reads the account a body names the way ParseWebhook does,
// without checking anything else; 0 when it names none or is not JSON.
func peekAccountID(body []byte) int64 {
	var w struct {
		Account      *Account `json:"account"`
		RawAccountID *int64   `json:"account_id"`
	}
	if json.Unmarshal(body, &w) != nil {
		return 0
	}
	return resolveAccountID(&WebhookEvent{Account: w.Account}, w.RawAccountID, body)
}
