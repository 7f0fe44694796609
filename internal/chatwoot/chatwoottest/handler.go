package chatwoottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

const (
	maxRequestBytes  = 8 << 20
	maxContentLength = 150_000
	listLatest       = 20
	listBefore       = 20
	listAfter        = 100
	listBetween      = 1000
)

// reply is what an operation handler decided to answer, plus the webhook it
// triggered.
type reply struct {
	status   int
	body     any // marshalled as JSON; nil for an empty body
	hook     string
	hookBody map[string]any
}

func errorReply(status int, msg string) reply {
	return reply{status: status, body: map[string]any{"error": msg}}
}

// incoming is one request as checked by ServeHTTP.
type incoming struct {
	r               *http.Request
	body            []byte
	tokenOK         bool
	op              *openapitest.Operation // nil when the path or method is not in the spec
	violationStatus int                    // what to answer when the request breaks the spec (see checkRequest)
}

// fault is the fault injection that applies to one request.
type fault struct {
	status          int // an injected failure, 0 for none
	latency         time.Duration
	hang, hangAfter time.Duration
	down            <-chan struct{}
}

// ServeHTTP handles one request: record, check against the spec, inject
// faults, authenticate, apply.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "request too large"})
		return
	}
	in := incoming{r: r, body: body}
	token := r.Header.Get("api_access_token")
	in.tokenOK = token != "" && token == s.token
	rec := RecordedRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, TokenOK: in.tokenOK, Time: s.now(),
	}
	if token != "" {
		rec.Header.Set("api_access_token", "[redacted]")
	}

	var violations []string
	in.op, violations, in.violationStatus = checkRequest(s.spec, r, body)
	if in.op != nil && token == "" {
		violations = append(violations, "api_access_token header missing")
	}

	s.mu.Lock()
	for _, v := range violations {
		s.violations = append(s.violations, fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, v))
	}
	f := s.faultLocked()
	s.mu.Unlock()

	status := s.serve(w, in, f)
	rec.Status = max(status, 0)
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	if status == aborted {
		// Returning normally would send an empty 200; this drops the
		// connection instead, which is what a vanished server looks like.
		panic(http.ErrAbortHandler)
	}
}

// aborted is serve's status for a request that gets no answer at all.
const aborted = -1

// faultLocked consumes the fault injection that applies to this request.
func (s *Server) faultLocked() fault {
	f := fault{latency: s.latency, down: s.downCh}
	switch {
	case s.failNext > 0:
		s.failNext--
		f.status = s.failNextStatus
	case s.now().Before(s.failUntil):
		f.status = s.failForStatus
	}
	if f.status == 0 && s.hangNext > 0 {
		s.hangNext--
		f.hang = s.hangFor
	}
	if f.status == 0 && s.hangAfterNext > 0 {
		s.hangAfterNext--
		f.hangAfter = s.hangAfterFor
	}
	return f
}

// serve answers a checked request and returns the status sent (aborted
// when none was).
func (s *Server) serve(w http.ResponseWriter, in incoming, f fault) int {
	if !s.sleep(f.latency, in.r, f.down) || !s.sleep(f.hang, in.r, f.down) {
		// The client gave up or the server went down: nothing is applied
		// and nobody is left to answer.
		return aborted
	}
	if f.status != 0 {
		writeJSON(w, f.status, map[string]any{"error": "injected failure"})
		return f.status
	}

	var rep reply
	switch {
	case in.op == nil:
		// Rails answers an unknown route before authentication.
		rep = errorReply(http.StatusNotFound, "Not Found")
	case !in.tokenOK:
		rep = errorReply(http.StatusUnauthorized, "Invalid Access Token")
	case in.violationStatus != 0:
		rep = errorReply(in.violationStatus, "request does not match the Chatwoot API spec")
	default:
		rep = s.apply(in.op, in.r.URL.Query(), in.body)
	}

	if !s.sleep(f.hangAfter, in.r, f.down) {
		return aborted
	}

	var out []byte
	var contentType string
	if rep.body != nil {
		var err error
		if out, err = json.Marshal(rep.body); err != nil {
			rep = errorReply(http.StatusInternalServerError, "encode: "+err.Error())
			out, _ = json.Marshal(rep.body)
		}
		contentType = "application/json; charset=utf-8"
	}
	if in.op != nil {
		if err := checkResponse(s.spec, in.r, rep.status, contentType, out); err != nil {
			s.mu.Lock()
			s.violations = append(s.violations, fmt.Sprintf("%s %s: stand-in response: %v", in.r.Method, in.r.URL.Path, err))
			s.mu.Unlock()
		}
	}
	if out == nil {
		w.WriteHeader(rep.status)
		return rep.status
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(rep.status)
	_, _ = w.Write(out)
	return rep.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// apply runs an operation the request has been checked for.
func (s *Server) apply(op *openapitest.Operation, query map[string][]string, body []byte) reply {
	accountID, err1 := strconv.Atoi(op.PathParams["account_id"])
	conversationID, err2 := strconv.Atoi(op.PathParams["conversation_id"])
	if err1 != nil || err2 != nil {
		return errorReply(http.StatusNotFound, "Resource could not be found")
	}
	var in map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			return errorReply(http.StatusBadRequest, "invalid JSON")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rep := s.applyLocked(op, accountID, conversationID, query, in)
	if rep.hook != "" {
		// Queued under the lock so that webhooks leave in commit order.
		s.hooks.send(rep.hook, rep.hookBody)
	}
	return rep
}

func (s *Server) applyLocked(op *openapitest.Operation, accountID, conversationID int, query map[string][]string, in map[string]any) reply {
	if !s.accountExistsLocked(accountID) && !s.autoCreate {
		return errorReply(http.StatusNotFound, "Resource could not be found")
	}
	c := s.conversationLocked(accountID, conversationID, s.autoCreate)
	if c == nil {
		return errorReply(http.StatusNotFound, "Resource could not be found")
	}

	switch op.ID {
	case "create-a-new-message-in-a-conversation":
		return s.createMessageLocked(accountID, c, in)
	case "list-all-messages":
		return s.listMessagesLocked(c, query)
	case "list-all-labels-of-a-conversation":
		return reply{status: http.StatusOK, body: map[string]any{"payload": stringsToAny(c.labels)}}
	case "conversation-add-labels":
		labels := toStrings(in["labels"])
		hook := s.setLabelsLocked(accountID, c, apiUserName, labels)
		rep := reply{status: http.StatusOK, body: map[string]any{"payload": stringsToAny(c.labels)}}
		if hook != nil {
			rep.hook, rep.hookBody = "conversation_updated", hook
		}
		return rep
	case "toggle-priority-of-a-conversation":
		return s.togglePriorityLocked(accountID, c, in)
	case "toggle-status-of-a-conversation":
		return s.toggleStatusLocked(accountID, c, in)
	}
	s.violations = append(s.violations, fmt.Sprintf("%s %s: operation %q is not implemented by the stand-in", op.Method, op.Template, op.ID))
	return errorReply(http.StatusNotImplemented, "not implemented by the stand-in")
}

func (s *Server) createMessageLocked(accountID int, c *conversation, in map[string]any) reply {
	content, _ := in["content"].(string)
	messageType, _ := in["message_type"].(string)
	if messageType == "" {
		messageType = "outgoing"
	}
	if messageType == "incoming" {
		// Messages::MessageBuilder raises this for every inbox but API ones;
		// the stand-in's conversations sit in a website inbox.
		return errorReply(http.StatusUnprocessableEntity, "Incoming messages are only allowed in Api inboxes")
	}
	if utf8.RuneCountInString(content) > maxContentLength {
		return errorReply(http.StatusUnprocessableEntity, "Validation failed: Content is too long (maximum is 150000 characters)")
	}
	private, _ := in["private"].(bool)
	contentType, _ := in["content_type"].(string)
	if contentType == "" {
		contentType = "text"
	}
	attrs, _ := in["content_attributes"].(map[string]any)
	if attrs == nil {
		attrs = map[string]any{}
	}
	m := &Message{
		Content: content, MessageType: 1, ContentType: contentType, ContentAttributes: attrs,
		Private: private, SenderType: "User",
	}
	if v, ok := in["echo_id"]; ok && v != nil {
		m.EchoID = fmt.Sprint(v)
	}
	if v, ok := in["source_id"].(string); ok {
		m.SourceID = v
	}
	s.addMessageLocked(c, m)
	return reply{
		status:   http.StatusOK,
		body:     restMessage(c, m, true),
		hook:     "message_created",
		hookBody: messageCreatedPayload(accountID, c, m),
	}
}

// listMessagesLocked pages like Chatwoot's MessageFinder: the newest 20 by
// default, 20 before a message id, up to 100 after one, oldest first.
func (s *Server) listMessagesLocked(c *conversation, query map[string][]string) reply {
	before := queryInt(query, "before")
	after := queryInt(query, "after")
	var page []*Message
	switch {
	case before > 0 && after > 0:
		for _, m := range c.messages {
			if m.ID >= after && m.ID < before && len(page) < listBetween {
				page = append(page, m)
			}
		}
	case before > 0:
		var older []*Message
		for _, m := range c.messages {
			if m.ID < before {
				older = append(older, m)
			}
		}
		page = older[max(0, len(older)-listBefore):]
	case after > 0:
		for _, m := range c.messages {
			if m.ID > after && len(page) < listAfter {
				page = append(page, m)
			}
		}
	default:
		page = c.messages[max(0, len(c.messages)-listLatest):]
	}
	payload := make([]any, 0, len(page))
	for _, m := range page {
		payload = append(payload, restMessage(c, m, false))
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"meta": map[string]any{
			"labels":                stringsToAny(c.labels),
			"additional_attributes": map[string]any{},
			"contact":               contactPushData(c),
			"agent_last_seen_at":    nil,
			"assignee_last_seen_at": nil,
		},
		"payload": payload,
	}}
}

func (s *Server) togglePriorityLocked(accountID int, c *conversation, in map[string]any) reply {
	p, _ := in["priority"].(string)
	if p == "none" {
		// The spec offers "none" to clear the priority (Chatwoot stores no
		// priority as NULL).
		p = ""
	}
	rep := reply{status: http.StatusOK}
	if p != c.priority {
		prev := c.priority
		c.priority = p
		c.updatedAt = s.now()
		if p != "" {
			s.activityLocked(c, fmt.Sprintf("%s set the priority to %s", apiUserName, p))
		} else {
			s.activityLocked(c, fmt.Sprintf("%s removed the priority", apiUserName))
		}
		rep.hook = "conversation_updated"
		rep.hookBody = conversationUpdatedPayload(accountID, c, map[string][2]any{
			"priority": {nilIfEmpty(prev), nilIfEmpty(p)},
		})
	}
	return rep
}

func (s *Server) toggleStatusLocked(accountID int, c *conversation, in map[string]any) reply {
	status, _ := in["status"].(string)
	rep := reply{status: http.StatusOK, body: map[string]any{
		"meta": map[string]any{},
		"payload": map[string]any{
			"success": true, "current_status": status, "conversation_id": c.displayID,
		},
	}}
	if status != c.status {
		prev := c.status
		c.status = status
		c.updatedAt = s.now()
		rep.hook = "conversation_status_changed"
		rep.hookBody = conversationEventPayload("conversation_status_changed", accountID, c, map[string][2]any{
			"status": {prev, status},
		})
	}
	return rep
}

func queryInt(q map[string][]string, key string) int64 {
	vals := q[key]
	if len(vals) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(vals[0]), 10, 64)
	return n
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
