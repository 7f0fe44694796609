package chatwoot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Names of the messages the orchestrator posts.
const (
	// TemplateEscalated is the private note posted when an agent escalates.
	TemplateEscalated = "escalated"
	// TemplateDecided is the private note posted when the approver decides.
	TemplateDecided = "decided"
	// TemplateConsultation is the public message inviting the customer to a
	// video consultation; the customer sees it.
	TemplateConsultation = "consultation"
	// TemplateExpired, TemplateWithdrawn, TemplateInfoRequested,
	// TemplateInfoProvided and TemplateReminder are private notes on the
	// rest of an escalation's life: its deadline passed, the requester took
	// it back, an approver asked a question and the requester answered, a
	// reminder that it still waits.
	TemplateExpired       = "expired"
	TemplateWithdrawn     = "withdrawn"
	TemplateInfoRequested = "info_requested"
	TemplateInfoProvided  = "info_provided"
	TemplateReminder      = "reminder"
	// TemplateInfoUnanswered: the question's time for an answer passed and
	// the escalation waits for the approvers again.
	TemplateInfoUnanswered = "info_unanswered"
)

// TemplateData is what every template can use. Fields a step does not know
// are empty; templates should guard optional ones with {{with}} or {{if}}.
type TemplateData struct {
	ApprovalID   string // the orchestrator's approval id
	Title        string // the escalation's title, as the agent wrote it
	Description  string // the agent's description, may be empty
	Priority     string // low|medium|high|urgent
	ApproverRole string // who must decide, e.g. "CEO"
	ApprovalURL  string // where the approver decides
	Decision     string // approved|rejected (decided)
	DeciderName  string // who decided (decided)
	Comment      string // the decider's comment, may be empty (decided)
	JoinURL      string // the customer's consultation link (consultation)
	// RequesterName is the agent who escalated.
	RequesterName string
	// ActorName is who asked, answered or withdrew; Text is their question,
	// answer or comment (info_requested, info_provided, withdrawn).
	ActorName, Text string
	// ExpiresAt is the deadline, as text (reminder, info_provided).
	ExpiresAt string
}

var defaultTemplates = map[string]string{
	TemplateEscalated: `Escalated to {{.ApproverRole}}: {{.Title}}
{{- with .Priority}}
Priority: {{.}}{{end}}
{{- with .RequesterName}}
Requested by: {{.}}{{end}}
{{- with .Description}}

{{.}}{{end}}

Review and decide: {{.ApprovalURL}}`,

	TemplateDecided: `Escalation {{.Decision}} by {{.DeciderName}}: {{.Title}}
{{- with .Comment}}

Comment: {{.}}{{end}}
{{- with .ApprovalURL}}

Details: {{.}}{{end}}`,

	TemplateConsultation: `We have set up a video consultation for you. Please join here: {{.JoinURL}}`,

	TemplateExpired: `Escalation expired without a decision: {{.Title}}
Nobody decided before the deadline; nothing was approved.
{{- with .ApprovalURL}}

Details: {{.}}{{end}}`,

	TemplateWithdrawn: `Escalation withdrawn{{with .ActorName}} by {{.}}{{end}}: {{.Title}}
{{- with .Text}}

Comment: {{.}}{{end}}`,

	TemplateInfoRequested: `{{with .ActorName}}{{.}}{{else}}The approver{{end}} needs more information before deciding: {{.Title}}

Question: {{.Text}}
{{- with .ApprovalURL}}

Answer: {{.}}{{end}}`,

	TemplateInfoProvided: `{{with .ActorName}}{{.}}{{else}}The requester{{end}} answered: {{.Title}}

Answer: {{.Text}}
{{- with .ExpiresAt}}
Decision due by {{.}}{{end}}`,

	TemplateInfoUnanswered: `No answer came to the question in time: {{.Title}}
The escalation waits for {{.ApproverRole}} to decide again.
{{- with .ExpiresAt}}
Decision due by {{.}}{{end}}
{{- with .ApprovalURL}}

Review and decide: {{.}}{{end}}`,

	TemplateReminder: `Reminder: still waiting for {{.ApproverRole}} to decide: {{.Title}}
{{- with .ExpiresAt}}
Expires {{.}}{{end}}
{{- with .ApprovalURL}}

Review and decide: {{.}}{{end}}`,
}

// Templates renders the orchestrator's notes and messages. It is safe for
// concurrent use.
type Templates struct {
	// byName maps each known name to the set that defines it, so that an
	// override can call partials defined beside it in the same file.
	byName map[string]*template.Template
}

// TemplateNames returns the names Templates renders, sorted.
func TemplateNames() []string {
	names := make([]string, 0, len(defaultTemplates))
	for n := range defaultTemplates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadTemplates returns the built-in templates, overridden by those a file
// defines. The file holds {{define "name"}}…{{end}} blocks: names are
// escalated, decided and consultation; blocks whose name starts with "_" are
// partials for those to call. Any other name, text outside the blocks, and a
// template that fails on sample data are errors, so a typo fails at startup
// rather than at the first escalation. An empty path gives the defaults.
func LoadTemplates(path string) (*Templates, error) {
	t := &Templates{byName: make(map[string]*template.Template, len(defaultTemplates))}
	for name, text := range defaultTemplates {
		tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("built-in template %q: %w", name, err)
		}
		t.byName[name] = tmpl
	}
	if path != "" {
		if err := t.override(path); err != nil {
			return nil, err
		}
	}
	for _, name := range TemplateNames() {
		if _, err := t.Render(name, sampleData()); err != nil {
			return nil, fmt.Errorf("templates %s: %w", displayPath(path), err)
		}
	}
	return t, nil
}

func displayPath(path string) string {
	if path == "" {
		return "(built-in)"
	}
	return path
}

func (t *Templates) override(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	if !utf8.Valid(src) {
		return fmt.Errorf("templates %s: not valid UTF-8", path)
	}
	// The root's name shows in parse errors; the prefix keeps it apart
	// from the template names a file may define.
	root := "file:" + filepath.Base(path)
	set, err := template.New(root).Option("missingkey=error").Parse(string(src))
	if err != nil {
		// text/template's error names the template and line.
		return fmt.Errorf("templates %s: %w", path, err)
	}
	if set.Tree != nil && !onlyWhitespace(set.Tree.Root) {
		return fmt.Errorf("templates %s: text outside {{define}} blocks", path)
	}
	defined := 0
	for _, tmpl := range set.Templates() {
		name := tmpl.Name()
		if name == root {
			continue
		}
		if _, known := defaultTemplates[name]; known {
			t.byName[name] = set
			defined++
			continue
		}
		if !strings.HasPrefix(name, "_") {
			return fmt.Errorf("templates %s: unknown template %q (known: %s; start partial names with \"_\")",
				path, name, strings.Join(TemplateNames(), ", "))
		}
	}
	if defined == 0 {
		return fmt.Errorf("templates %s: defines none of %s", path, strings.Join(TemplateNames(), ", "))
	}
	return nil
}

func onlyWhitespace(n *parse.ListNode) bool {
	if n == nil {
		return true
	}
	for _, node := range n.Nodes {
		text, ok := node.(*parse.TextNode)
		if !ok || len(bytes.TrimSpace(text.Text)) != 0 {
			return false
		}
	}
	return true
}

// Render executes the named template. The result is trimmed; an empty result
// or one longer than Chatwoot accepts is an error.
func (t *Templates) Render(name string, data TemplateData) (string, error) {
	set, ok := t.byName[name]
	if !ok {
		return "", fmt.Errorf("template %q: unknown (known: %s)", name, strings.Join(TemplateNames(), ", "))
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("template %q: %w", name, err)
	}
	out := strings.TrimSpace(buf.String())
	if out == "" {
		return "", fmt.Errorf("template %q: rendered empty", name)
	}
	if n := utf8.RuneCountInString(out); n > MaxContentLength {
		return "", fmt.Errorf("template %q: rendered %d characters, Chatwoot allows %d", name, n, MaxContentLength)
	}
	return out, nil
}

// sampleData exercises every field when LoadTemplates checks the templates.
func sampleData() TemplateData {
	return TemplateData{
		ApprovalID: "sample", Title: "Sample", Description: "Sample", Priority: "high",
		ApproverRole: "CEO", ApprovalURL: "https://example.invalid/approvals/sample",
		Decision: "approved", DeciderName: "Sample", Comment: "Sample",
		JoinURL: "https://example.invalid/room", RequesterName: "Sample",
	}
}
