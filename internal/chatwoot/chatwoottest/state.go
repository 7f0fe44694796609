package chatwoottest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The API token belongs to this user; it is the sender of messages created
// through the API and the actor of label and priority changes.
const (
	apiUserID    = 1
	apiUserName  = "Orchestrator"
	apiUserEmail = "orchestrator@example.test"
	inboxID      = 1
	inboxName    = "Website"
	channelType  = "Channel::WebWidget"
)

type account struct {
	id            int
	conversations map[int]*conversation
}

type conversation struct {
	displayID int
	status    string
	priority  string // "" for none
	labels    []string
	assignee  *agent // nil: unassigned
	messages  []*Message
	createdAt time.Time
	updatedAt time.Time
}

func (c *conversation) contactID() int { return 1000 + c.displayID }

// AddConversation registers a conversation (display id) in an account,
// creating the account if needed, with the given labels. Adding an existing
// conversation replaces its labels.
func (s *Server) AddConversation(accountID, conversationID int, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversationLocked(accountID, conversationID, true)
	c.labels = normalizeLabels(labels)
}

// agent is an agent a conversation can be assigned to.
type agent struct {
	id   int
	name string
}

// Assign assigns a conversation to the agent id (0 unassigns it), as an
// admin would in the dashboard; later webhooks carry the assignee. Chatwoot
// sends an assignee without an email (User#push_event_data).
func (s *Server) Assign(accountID, conversationID, agentID int, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversationLocked(accountID, conversationID, true)
	c.assignee = nil
	if agentID > 0 {
		c.assignee = &agent{id: agentID, name: name}
	}
}

// conversationLocked finds a conversation, creating it (and its account) when
// create is set. It returns nil for an unknown one.
func (s *Server) conversationLocked(accountID, conversationID int, create bool) *conversation {
	a := s.accounts[accountID]
	if a == nil {
		if !create {
			return nil
		}
		a = &account{id: accountID, conversations: map[int]*conversation{}}
		s.accounts[accountID] = a
	}
	c := a.conversations[conversationID]
	if c == nil && create {
		now := s.now()
		c = &conversation{displayID: conversationID, status: "open", createdAt: now, updatedAt: now}
		a.conversations[conversationID] = c
	}
	return c
}

func (s *Server) accountExistsLocked(accountID int) bool { return s.accounts[accountID] != nil }

// Messages returns a conversation's messages, oldest first.
func (s *Server) Messages(accountID, conversationID int) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversationLocked(accountID, conversationID, false)
	if c == nil {
		return nil
	}
	out := make([]Message, 0, len(c.messages))
	for _, m := range c.messages {
		cp := *m
		cp.ContentAttributes = maps.Clone(m.ContentAttributes)
		out = append(out, cp)
	}
	return out
}

// Labels returns a conversation's labels.
func (s *Server) Labels(accountID, conversationID int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conversationLocked(accountID, conversationID, false); c != nil {
		return slices.Clone(c.labels)
	}
	return nil
}

// Priority returns a conversation's priority, "" for none.
func (s *Server) Priority(accountID, conversationID int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conversationLocked(accountID, conversationID, false); c != nil {
		return c.priority
	}
	return ""
}

// Status returns a conversation's status (open, resolved, pending, snoozed).
func (s *Server) Status(accountID, conversationID int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conversationLocked(accountID, conversationID, false); c != nil {
		return c.status
	}
	return ""
}

// SimulateIncoming adds a message from the customer, as if it came in through
// the inbox, and sends its message_created webhook.
func (s *Server) SimulateIncoming(accountID, conversationID int, content string) Message {
	s.mu.Lock()
	c := s.conversationLocked(accountID, conversationID, true)
	m := s.addMessageLocked(c, &Message{
		Content: content, MessageType: 0, ContentType: "text", SenderType: "Contact",
		ContentAttributes: map[string]any{},
	})
	s.hooks.send("message_created", messageCreatedPayload(accountID, c, m))
	out := *m
	s.mu.Unlock()
	return out
}

// SimulateLabels sets a conversation's labels as an agent would in the
// dashboard, with the activity message and conversation_updated webhook
// Chatwoot produces.
func (s *Server) SimulateLabels(accountID, conversationID int, agentName string, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversationLocked(accountID, conversationID, true)
	if payload := s.setLabelsLocked(accountID, c, agentName, labels); payload != nil {
		s.hooks.send("conversation_updated", payload)
	}
}

func (s *Server) addMessageLocked(c *conversation, m *Message) *Message {
	s.nextMessageID++
	m.ID = s.nextMessageID
	m.ConversationID = c.displayID
	m.CreatedAt = s.now()
	c.messages = append(c.messages, m)
	c.updatedAt = m.CreatedAt
	return m
}

// setLabelsLocked replaces the labels and returns the conversation_updated
// payload, or nil when nothing changed (Chatwoot compares the sorted lists).
func (s *Server) setLabelsLocked(accountID int, c *conversation, actor string, labels []string) map[string]any {
	next := normalizeLabels(labels)
	prev := c.labels
	if slices.Equal(sortedCopy(prev), sortedCopy(next)) {
		return nil
	}
	prevUpdated := c.updatedAt
	c.labels = next
	c.updatedAt = s.now()
	added, removed := diff(next, prev), diff(prev, next)
	if len(added) > 0 {
		s.activityLocked(c, fmt.Sprintf("%s added %s", actor, strings.Join(added, ", ")))
	}
	if len(removed) > 0 {
		s.activityLocked(c, fmt.Sprintf("%s removed %s", actor, strings.Join(removed, ", ")))
	}
	return conversationUpdatedPayload(accountID, c, map[string][2]any{
		"label_list": {stringsToAny(prev), stringsToAny(next)},
		"updated_at": {prevUpdated.UTC().Format(time.RFC3339Nano), c.updatedAt.UTC().Format(time.RFC3339Nano)},
	})
}

func (s *Server) activityLocked(c *conversation, content string) {
	s.addMessageLocked(c, &Message{Content: content, MessageType: 2, ContentType: "text", ContentAttributes: map[string]any{}})
}

// normalizeLabels does what Chatwoot's tag parser does to a list: trims,
// drops blanks and duplicates, keeps order.
func normalizeLabels(labels []string) []string {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func sortedCopy(l []string) []string {
	c := slices.Clone(l)
	slices.Sort(c)
	return c
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func stringsToAny(l []string) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out
}
