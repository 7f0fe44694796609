package chatwoottest

import (
	"fmt"
	"maps"
	"slices"
)

// The shapes below follow Chatwoot's views and presenters: the
// api/v1/models/_message partial for REST answers, Message#webhook_data and
// Conversations::EventDataPresenter#push_data for webhooks. They are built
// independently of the chatwoot package so that the stand-in does not share
// the client's assumptions.

var messageTypeNames = map[int]string{0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}

func accountName(id int) string { return fmt.Sprintf("Account %d", id) }

// userPushData is User#push_event_data for the API token's user.
func userPushData() map[string]any {
	return map[string]any{
		"id": apiUserID, "name": apiUserName, "available_name": apiUserName,
		"avatar_url": "", "type": "user", "availability_status": "online", "thumbnail": "",
	}
}

// assigneePushData is the assignee's User#push_event_data (no email), or
// nil.
func assigneePushData(c *conversation) any {
	if c.assignee == nil {
		return nil
	}
	return map[string]any{
		"id": c.assignee.id, "name": c.assignee.name, "available_name": c.assignee.name,
		"avatar_url": "", "type": "user", "availability_status": "online", "thumbnail": "",
	}
}

func assigneeID(c *conversation) any {
	if c.assignee == nil {
		return nil
	}
	return c.assignee.id
}

func contactPushData(c *conversation) map[string]any {
	return map[string]any{
		"additional_attributes": map[string]any{}, "custom_attributes": map[string]any{},
		"email": fmt.Sprintf("customer%d@example.test", c.displayID), "id": c.contactID(),
		"identifier": nil, "name": fmt.Sprintf("Customer %d", c.displayID), "phone_number": nil,
		"thumbnail": "", "blocked": false, "type": "contact",
	}
}

func senderPushData(c *conversation, m *Message) map[string]any {
	switch m.SenderType {
	case "User":
		return userPushData()
	case "Contact":
		return contactPushData(c)
	}
	return nil
}

// restMessage is the _message partial: what POST …/messages and
// GET …/messages return for one message. echo_id only exists on the object
// the create call built, so only the create answer carries it.
func restMessage(c *conversation, m *Message, withEcho bool) map[string]any {
	out := map[string]any{
		"id":                 m.ID,
		"content":            m.Content,
		"inbox_id":           inboxID,
		"conversation_id":    c.displayID,
		"message_type":       m.MessageType,
		"content_type":       m.ContentType,
		"status":             "sent",
		"content_attributes": maps.Clone(m.ContentAttributes),
		"created_at":         m.CreatedAt.Unix(),
		"private":            m.Private,
		"source_id":          nilIfEmpty(m.SourceID),
	}
	if withEcho && m.EchoID != "" {
		out["echo_id"] = m.EchoID
	}
	if sender := senderPushData(c, m); sender != nil {
		out["sender"] = sender
	}
	return out
}

// messagePushData is Message#push_event_data, which is what a conversation
// payload lists under "messages".
func messagePushData(accountID int, c *conversation, m *Message) map[string]any {
	senderType, senderID := any(nil), any(nil)
	switch m.SenderType {
	case "User":
		senderType, senderID = "User", apiUserID
	case "Contact":
		senderType, senderID = "Contact", c.contactID()
	}
	out := map[string]any{
		"id": m.ID, "content": m.Content, "account_id": accountID, "inbox_id": inboxID,
		"conversation_id": c.displayID, "message_type": m.MessageType,
		"created_at": m.CreatedAt.Unix(), "updated_at": m.CreatedAt.UTC().Format(isoMillis),
		"private": m.Private, "status": "sent", "source_id": nilIfEmpty(m.SourceID),
		"content_type": m.ContentType, "content_attributes": maps.Clone(m.ContentAttributes),
		"sender_type": senderType, "sender_id": senderID,
		"external_source_ids": map[string]any{}, "additional_attributes": map[string]any{},
		"processed_message_content": m.Content, "sentiment": map[string]any{},
		"conversation": map[string]any{
			"assignee_id": assigneeID(c), "unread_count": 0, "last_activity_at": c.updatedAt.Unix(),
			"contact_inbox": map[string]any{"source_id": fmt.Sprintf("contact-inbox-%d", c.displayID)},
		},
	}
	if sender := senderPushData(c, m); sender != nil {
		out["sender"] = sender
	}
	return out
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// conversationPushData is Conversations::EventDataPresenter#push_data, the
// conversation in every webhook. Upstream Chatwoot puts no account reference
// in it; the last chat message's account_id is the only trace.
func conversationPushData(accountID int, c *conversation) map[string]any {
	messages := []any{}
	for _, m := range slices.Backward(c.messages) {
		if m.MessageType != 2 && !m.Private {
			messages = append(messages, messagePushData(accountID, c, m))
			break
		}
	}
	return map[string]any{
		"additional_attributes": map[string]any{},
		"can_reply":             true,
		"channel":               channelType,
		"contact_inbox": map[string]any{
			"id": c.displayID, "contact_id": c.contactID(), "inbox_id": inboxID,
			"source_id": fmt.Sprintf("contact-inbox-%d", c.displayID),
		},
		"id":       c.displayID,
		"inbox_id": inboxID,
		"messages": messages,
		"labels":   stringsToAny(c.labels),
		"meta": map[string]any{
			"sender": contactPushData(c), "assignee": assigneePushData(c), "team": nil, "hmac_verified": false,
		},
		"status":                 c.status,
		"custom_attributes":      map[string]any{},
		"snoozed_until":          nil,
		"unread_count":           0,
		"first_reply_created_at": nil,
		"priority":               nilIfEmpty(c.priority),
		"waiting_since":          0,
		"agent_last_seen_at":     0,
		"contact_last_seen_at":   0,
		"last_activity_at":       c.updatedAt.Unix(),
		"timestamp":              c.updatedAt.Unix(),
		"created_at":             c.createdAt.Unix(),
		"updated_at":             float64(c.updatedAt.UnixMilli()) / 1000,
	}
}

// messageCreatedPayload is Message#webhook_data plus the event name.
func messageCreatedPayload(accountID int, c *conversation, m *Message) map[string]any {
	var sender any
	switch m.SenderType {
	case "User":
		sender = map[string]any{"id": apiUserID, "name": apiUserName, "email": apiUserEmail, "type": "user"}
	case "Contact":
		contact := contactPushData(c)
		contact["account"] = map[string]any{"id": accountID, "name": accountName(accountID)}
		contact["avatar"] = ""
		sender = contact
	}
	return map[string]any{
		"event":                 "message_created",
		"account":               map[string]any{"id": accountID, "name": accountName(accountID)},
		"additional_attributes": map[string]any{},
		"content_attributes":    maps.Clone(m.ContentAttributes),
		"content_type":          m.ContentType,
		"content":               m.Content,
		"conversation":          conversationPushData(accountID, c),
		"created_at":            m.CreatedAt.UTC().Format(isoMillis),
		"id":                    m.ID,
		"inbox":                 map[string]any{"id": inboxID, "name": inboxName},
		"message_type":          messageTypeNames[m.MessageType],
		"private":               m.Private,
		"sender":                sender,
		"source_id":             nilIfEmpty(m.SourceID),
	}
}

// conversationUpdatedPayload is push_data plus the event name and
// changed_attributes, which Chatwoot sends as a list of one-key objects.
func conversationUpdatedPayload(accountID int, c *conversation, changes map[string][2]any) map[string]any {
	return conversationEventPayload("conversation_updated", accountID, c, changes)
}

func conversationEventPayload(event string, accountID int, c *conversation, changes map[string][2]any) map[string]any {
	p := conversationPushData(accountID, c)
	p["event"] = event
	list := []any{}
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		list = append(list, map[string]any{k: map[string]any{
			"previous_value": changes[k][0], "current_value": changes[k][1],
		}})
	}
	p["changed_attributes"] = list
	return p
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
