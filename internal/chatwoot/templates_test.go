package chatwoot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
)

func writeTemplates(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "templates.tmpl")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultTemplates(t *testing.T) {
	tm, err := chatwoot.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	data := chatwoot.TemplateData{
		ApprovalID: "a-1", Title: "Refund over limit", ApproverRole: "CEO",
		ApprovalURL: "https://orch.example.com/approvals/a-1", RequesterName: "Sam",
		Decision: "approved", DeciderName: "Alex", JoinURL: "https://meet.example.com/consult-x",
	}

	got, err := tm.Render(chatwoot.TemplateEscalated, data)
	if err != nil {
		t.Fatal(err)
	}
	want := "Escalated to CEO: Refund over limit\nRequested by: Sam\n\nReview and decide: https://orch.example.com/approvals/a-1"
	if got != want {
		t.Fatalf("escalated:\n%s\nwant:\n%s", got, want)
	}

	data.Comment = "Go ahead."
	got, err = tm.Render(chatwoot.TemplateDecided, data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "Escalation approved by Alex: Refund over limit") || !strings.Contains(got, "Comment: Go ahead.") {
		t.Fatalf("decided: %q", got)
	}

	got, err = tm.Render(chatwoot.TemplateConsultation, data)
	if err != nil || !strings.Contains(got, data.JoinURL) {
		t.Fatalf("consultation: %q %v", got, err)
	}

	if _, err := tm.Render("nope", data); err == nil {
		t.Fatal("unknown template rendered")
	}
	if _, err := tm.Render(chatwoot.TemplateConsultation, chatwoot.TemplateData{}); err != nil {
		t.Fatalf("optional fields must not be required: %v", err)
	}
}

func TestTemplateFileOverridesSome(t *testing.T) {
	p := writeTemplates(t, `
{{define "_who"}}{{.ApproverRole}} ({{.Priority}}){{end}}
{{define "escalated"}}ESCALATED for {{template "_who" .}}: {{.Title}} -> {{.ApprovalURL}}{{end}}
`)
	tm, err := chatwoot.LoadTemplates(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render(chatwoot.TemplateEscalated, chatwoot.TemplateData{ApproverRole: "CFO", Priority: "high", Title: "T", ApprovalURL: "u"})
	if err != nil || got != "ESCALATED for CFO (high): T -> u" {
		t.Fatalf("got %q, %v", got, err)
	}
	// Templates the file does not define keep their defaults.
	got, err = tm.Render(chatwoot.TemplateConsultation, chatwoot.TemplateData{JoinURL: "j"})
	if err != nil || !strings.Contains(got, "j") || strings.HasPrefix(got, "ESCALATED") {
		t.Fatalf("consultation: %q, %v", got, err)
	}
}

func TestTemplateFileErrors(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"parse error":     {`{{define "escalated"}}{{.Title}{{end}}`, "templates"},
		"unknown name":    {`{{define "escalate"}}x{{end}}`, `unknown template "escalate"`},
		"text outside":    {"hello\n{{define \"escalated\"}}x{{end}}", "outside"},
		"nothing defined": {`{{define "_partial"}}x{{end}}`, "defines none"},
		"unknown field":   {`{{define "decided"}}{{.Verdict}}{{end}}`, "Verdict"},
		"renders empty":   {`{{define "consultation"}}   {{end}}`, "empty"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := chatwoot.LoadTemplates(writeTemplates(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := chatwoot.LoadTemplates(filepath.Join(t.TempDir(), "missing.tmpl")); err == nil {
		t.Fatal("missing file accepted")
	}
}
