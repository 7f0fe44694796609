package chatwoot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Priorities Chatwoot's toggle_priority accepts.
const (
	PriorityUrgent = "urgent"
	PriorityHigh   = "high"
	PriorityMedium = "medium"
	PriorityLow    = "low"
	PriorityNone   = "none"
)

const maxLabelLength = 255

// Labels returns the conversation's labels.
func (c *Client) Labels(ctx context.Context, accountID, conversationID int) ([]string, error) {
	path, err := accountPath(accountID, conversationID, "/labels")
	if err != nil {
		return nil, err
	}
	var out struct {
		Payload []string `json:"payload"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out, maxResponseBytes); err != nil {
		return nil, err
	}
	return out.Payload, nil
}

// SetLabels replaces the conversation's labels with labels (an empty list
// clears them) and returns the list Chatwoot now holds.
func (c *Client) SetLabels(ctx context.Context, accountID, conversationID int, labels []string) ([]string, error) {
	path, err := accountPath(accountID, conversationID, "/labels")
	if err != nil {
		return nil, err
	}
	clean := make([]string, 0, len(labels))
	for _, l := range labels {
		l, err := checkLabel(l)
		if err != nil {
			return nil, err
		}
		clean = append(clean, l)
	}
	body := struct {
		Labels []string `json:"labels"`
	}{Labels: clean}
	var out struct {
		Payload []string `json:"payload"`
	}
	if err := c.do(ctx, http.MethodPost, path, nil, body, &out, maxResponseBytes); err != nil {
		return nil, err
	}
	return out.Payload, nil
}

// AddLabels adds labels to the conversation's existing ones and returns the
// resulting list. Chatwoot only offers "replace the list", so this reads the
// list, merges (existing order first, duplicates dropped, compared without
// regard to case so that a label Chatwoot hands back in another case is not
// added twice) and writes it back only if something is missing. A label an agent adds between the read and
// the write is lost; the window is one round trip.
func (c *Client) AddLabels(ctx context.Context, accountID, conversationID int, add ...string) ([]string, error) {
	want := make([]string, 0, len(add))
	for _, l := range add {
		l, err := checkLabel(l)
		if err != nil {
			return nil, err
		}
		want = append(want, l)
	}
	current, err := c.Labels(ctx, accountID, conversationID)
	if err != nil {
		return nil, err
	}
	merged, changed := mergeLabels(current, want)
	if !changed {
		return current, nil
	}
	return c.SetLabels(ctx, accountID, conversationID, merged)
}

func mergeLabels(current, add []string) ([]string, bool) {
	seen := make(map[string]bool, len(current)+len(add))
	out := make([]string, 0, len(current)+len(add))
	for _, l := range current {
		k := strings.ToLower(l)
		if !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	changed := false
	for _, l := range add {
		k := strings.ToLower(l)
		if !seen[k] {
			seen[k] = true
			out = append(out, l)
			changed = true
		}
	}
	return out, changed
}

// checkLabel refuses labels Chatwoot would mangle: its tag parser splits on
// commas and trims spaces.
func checkLabel(l string) (string, error) {
	l = strings.TrimSpace(l)
	switch {
	case l == "":
		return "", fmt.Errorf("%w: empty label", ErrInvalidArgument)
	case strings.Contains(l, ","):
		return "", fmt.Errorf("%w: label %q contains a comma", ErrInvalidArgument, l)
	case !utf8.ValidString(l) || len(l) > maxLabelLength:
		return "", fmt.Errorf("%w: label is not valid UTF-8 or longer than %d bytes", ErrInvalidArgument, maxLabelLength)
	}
	return l, nil
}

// SetPriority sets the conversation's priority: one of the Priority*
// constants ("none" clears it).
func (c *Client) SetPriority(ctx context.Context, accountID, conversationID int, priority string) error {
	path, err := accountPath(accountID, conversationID, "/toggle_priority")
	if err != nil {
		return err
	}
	switch priority {
	case PriorityUrgent, PriorityHigh, PriorityMedium, PriorityLow, PriorityNone:
	default:
		return fmt.Errorf("%w: priority %q (want urgent, high, medium, low or none)", ErrInvalidArgument, priority)
	}
	body := struct {
		Priority string `json:"priority"`
	}{Priority: priority}
	return c.do(ctx, http.MethodPost, path, nil, body, nil, maxResponseBytes)
}
