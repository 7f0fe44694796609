package drills

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Echo ids of the orchestrator's Chatwoot messages (activities/outbound.go):
// orchestrator:<approval id>:<kind>:<step>.
func echoEscalated(id string) string    { return "orchestrator:" + id + ":escalated:note" }
func echoDecided(id string) string      { return "orchestrator:" + id + ":decided:note" }
func echoConsultation(id string) string { return "orchestrator:" + id + ":consultation:message" }
func echoExpired(id string) string      { return "orchestrator:" + id + ":expired:note" }

// echoReminder matches the note of any reminder (reminder-1, reminder-2, …).
func echoReminder(id, echo string) bool {
	rest, ok := strings.CutPrefix(echo, "orchestrator:"+id+":reminder-")
	return ok && strings.HasSuffix(rest, ":note")
}

// snapshot is everything the invariants look at, read at one moment: the
// database through the superuser (RLS bypassed), the stand-in's
// conversations and Temporal.
type snapshot struct {
	approvals     map[string]approvalRow
	approvalRows  int
	audit         map[string]map[string]int // "resource/id" → action → rows
	consultations []consultationRow
	notifications []notificationRow
	messages      map[int]msgCounts // conversation → counts
	workflows     map[string]enumspb.WorkflowExecutionStatus
}

type approvalRow struct {
	id, status, requestedBy, approvedBy string
	conv                                int
}

// consultationRow is a consultation's row; owner is the workflow that runs
// it (contract.ConsultationOwner): the approval's escalation workflow for
// the consultations an approval opens since issue 22, its own workflow for
// one created on its own.
type consultationRow struct{ id, approvalID, status, owner string }

type notificationRow struct {
	key, approvalID, status string
	attempts                int
}

type msgCounts struct {
	escalated, decided, public int
	expired, reminders         int
	other                      []string // orchestrator messages that are none of the three
	label                      bool
}

func (c *cluster) snapshot(ctx context.Context, es []*escalation, known map[string]enumspb.WorkflowExecutionStatus) (*snapshot, error) {
	s := &snapshot{approvals: map[string]approvalRow{}, audit: map[string]map[string]int{}, messages: map[int]msgCounts{},
		workflows: map[string]enumspb.WorkflowExecutionStatus{}}
	db, err := c.admin(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin connection: %w", err)
	}
	defer db.Close(context.Background())

	rows, err := db.Query(ctx, `SELECT id::text, status, requested_by, coalesce(approved_by, ''), coalesce(conversation_id, 0) FROM approvals`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r approvalRow
		var conv int64
		if err := rows.Scan(&r.id, &r.status, &r.requestedBy, &r.approvedBy, &conv); err != nil {
			return nil, err
		}
		r.conv = int(conv)
		s.approvals[r.id] = r
		s.approvalRows++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = db.Query(ctx, `SELECT resource, resource_id, action, count(*) FROM audit_logs GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var res, id, action string
		var n int
		if err := rows.Scan(&res, &id, &action, &n); err != nil {
			return nil, err
		}
		k := res + "/" + id
		if s.audit[k] == nil {
			s.audit[k] = map[string]int{}
		}
		s.audit[k][action] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = db.Query(ctx, `SELECT id::text, coalesce(approval_id::text, ''), status, workflow_id FROM consultations`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r consultationRow
		var wid *string
		if err := rows.Scan(&r.id, &r.approvalID, &r.status, &wid); err != nil {
			return nil, err
		}
		r.owner = contract.ConsultationOwner(store.Consultation{ID: r.id, WorkflowID: wid})
		s.consultations = append(s.consultations, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = db.Query(ctx, `SELECT key, approval_id::text, status, attempts FROM notifications`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r notificationRow
		if err := rows.Scan(&r.key, &r.approvalID, &r.status, &r.attempts); err != nil {
			return nil, err
		}
		s.notifications = append(s.notifications, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	for _, e := range es {
		id := e.ID()
		var m msgCounts
		for _, msg := range c.cw.Messages(chatwootAcct, e.conv) {
			if msg.SenderType != "User" || msg.MessageType == 2 {
				continue // the customer, or activity messages
			}
			switch {
			case id != "" && msg.EchoID == echoEscalated(id) && msg.Private:
				m.escalated++
			case id != "" && msg.EchoID == echoDecided(id) && msg.Private:
				m.decided++
			case id != "" && msg.EchoID == echoConsultation(id) && !msg.Private && msg.MessageType == 1 && strings.Contains(msg.Content, "jwt="):
				m.public++
			case id != "" && msg.EchoID == echoExpired(id) && msg.Private:
				m.expired++
			case id != "" && echoReminder(id, msg.EchoID) && msg.Private:
				m.reminders++
			default:
				m.other = append(m.other, fmt.Sprintf("%q (private=%v echo=%q)", truncate(msg.Content, 80), msg.Private, msg.EchoID))
			}
		}
		for _, l := range c.cw.Labels(chatwootAcct, e.conv) {
			m.label = m.label || l == "escalated"
		}
		s.messages[e.conv] = m
	}

	for _, e := range es {
		id := e.ID()
		if id == "" {
			continue
		}
		wid := contract.EscalationWorkflowID(id)
		if st, ok := known[wid]; ok && st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			s.workflows[wid] = st
			continue
		}
		d, err := c.tc.DescribeWorkflow(ctx, wid, "")
		if err != nil {
			s.workflows[wid] = enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
			continue
		}
		s.workflows[wid] = d.RawResponse.GetWorkflowExecutionInfo().GetStatus()
	}
	return s, nil
}

// unsettled returns how many escalations do not look finished yet, and why
// the first one does not, so that the final checks (exact counts) run only
// once everything has had its chance.
func (s *snapshot) unsettled(es []*escalation) (n int, first, firstWID string) {
	note := func(wid, format string, args ...any) {
		if n++; n == 1 {
			first, firstWID = fmt.Sprintf(format, args...), wid
		}
	}
	for _, e := range es {
		id := e.ID()
		if id == "" {
			continue
		}
		wid := contract.EscalationWorkflowID(id)
		ap, ok := s.approvals[id]
		m := s.messages[e.conv]
		final := m.decided // the note that ends the escalation
		if e.want == "expired" {
			final = m.expired
		}
		switch {
		case workflowBroken(s.workflows[wid]):
			// Failed, terminated, timed out or cancelled: nothing will
			// change any more; the checks say what is wrong.
		case !ok || ap.status == "pending" || ap.status == "info_requested":
			note(wid, "#%d %s: approval not decided in the database", e.n, id)
		case s.workflows[wid] == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && ap.status == "approved" && s.runsConsultation(id):
			// Approved, it runs the consultation it opened until that
			// ends, which nobody does in the drills: it has settled once
			// its notifications have (completing, it waited for them).
			if steps, sending := s.notificationsOf(id); steps < e.wantNotifications() || sending > 0 {
				note(wid, "#%d %s: %d notification step(s), %d sending", e.n, id, steps, sending)
				break
			}
			if m.escalated == 0 || final == 0 || m.public == 0 || m.reminders < e.reminders {
				note(wid, "#%d %s: Chatwoot messages %d/%d/%d, %d reminder(s)", e.n, id, m.escalated, final, m.public, m.reminders)
			}
		case s.workflows[wid] == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || s.workflows[wid] == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
			note(wid, "#%d %s: workflow %s", e.n, wid, s.workflows[wid])
		case m.escalated == 0 || final == 0 || (e.want == "approved" && m.public == 0) || m.reminders < e.reminders:
			note(wid, "#%d %s: Chatwoot messages %d/%d/%d, %d reminder(s)", e.n, id, m.escalated, final, m.public, m.reminders)
		}
	}
	for _, c := range s.consultations {
		if s.audit["consultation/"+c.id]["consultation.created"] == 0 {
			note(c.owner, "consultation %s: no consultation.created yet", c.id)
		}
	}
	return n, first, firstWID
}

// runsConsultation reports whether the escalation of approvalID runs, in
// its own workflow, a consultation that has not ended, so that its
// workflow is meant to be running.
func (s *snapshot) runsConsultation(approvalID string) bool {
	for _, c := range s.consultations {
		if c.approvalID == approvalID && c.owner == contract.EscalationWorkflowID(approvalID) && c.status != store.ConsultationEnded {
			return true
		}
	}
	return false
}

// notificationsOf counts the approval's notification steps, and those of
// them still sending.
func (s *snapshot) notificationsOf(approvalID string) (n, sending int) {
	for _, r := range s.notifications {
		if r.approvalID == approvalID {
			n++
			if r.status == store.NotificationSending {
				sending++
			}
		}
	}
	return n, sending
}

// workflowBroken is a workflow that closed without completing.
func workflowBroken(st enumspb.WorkflowExecutionStatus) bool {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return true
	}
	return false
}

// violations collects invariant violations, printing at most a few of each
// kind with the total.
type violations struct {
	byKind map[string][]string
	order  []string
}

func (v *violations) add(kind, format string, args ...any) {
	if v.byKind == nil {
		v.byKind = map[string][]string{}
	}
	if _, ok := v.byKind[kind]; !ok {
		v.order = append(v.order, kind)
	}
	v.byKind[kind] = append(v.byKind[kind], fmt.Sprintf(format, args...))
}

func (v *violations) report(t testing.TB) {
	t.Helper()
	for _, k := range v.order {
		list := v.byKind[k]
		show := list
		if len(show) > 8 {
			show = show[:8]
		}
		t.Errorf("INVARIANT VIOLATED: %s (%d):\n  %s", k, len(list), strings.Join(show, "\n  "))
	}
}

// checkInvariants waits for every escalation to settle, then checks, in one
// place for every drill:
//
//   - every escalation started was created (201) and decided (or, when it
//     is to expire, left alone), and reaches its final state:
//     approved/rejected/expired in the database, its workflow closed as
//     completed with every notification sent (an approved one may still
//     run, as the consultation it opened waits for its start); no waiting
//     row is left without a running workflow;
//   - exactly one approval row per escalation (none lost, none doubled);
//   - exactly one audit row per transition: approval.created once,
//     approval.approved|rejected|expired once, approval.reminded once per
//     reminder due, consultation.created once per consultation,
//     policy.updated once per policy change, and nothing else (no
//     chatwoot.failed);
//   - exactly one Chatwoot message of each kind per escalation: the
//     escalation note, the decision (or expiry) note, one note per reminder
//     and, on approval, the public join-link message, and nothing else from
//     the orchestrator;
//   - no consultation without an approval: every consultation points at an
//     approved approval, every approved escalation has exactly one, with the
//     workflow that runs it (contract.ConsultationOwner) running; rejected
//     ones have none;
//   - every notification step recorded as sent, and no Chatwoot spec
//     violation.
func checkInvariants(t *testing.T, c *cluster, es []*escalation) {
	t.Helper()
	start := time.Now()
	var v violations
	for _, e := range es {
		e.mu.Lock()
		if e.createErr != nil {
			v.add("escalation lost: the create never succeeded", "#%d: %v", e.n, e.createErr)
		} else if e.decideErr != nil {
			v.add("decision lost: the decide never succeeded", "#%d: %v", e.n, e.decideErr)
		}
		e.mu.Unlock()
	}

	ctx, cancel := context.WithTimeout(context.Background(), prof.converge+time.Minute)
	defer cancel()
	deadline := time.Now().Add(prof.converge)
	known := map[string]enumspb.WorkflowExecutionStatus{}
	var s *snapshot
	var err error
	lastLog := time.Now()
	for {
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		began := time.Now()
		s, err = c.snapshot(sctx, es, known)
		scancel()
		if d := time.Since(began); d > 5*time.Second {
			t.Logf("invariants: reading the state took %s", d.Round(100*time.Millisecond))
		}
		if err == nil {
			known = s.workflows
			n, first, wid := s.unsettled(es)
			if n == 0 {
				break
			}
			if time.Since(lastLog) > 30*time.Second {
				lastLog = time.Now()
				t.Logf("invariants: still waiting after %s for %d (%s)\n    %s", time.Since(start).Round(time.Second), n, first, c.diagnose(ctx, wid))
			}
		} else if time.Since(lastLog) > 30*time.Second {
			lastLog = time.Now()
			t.Logf("invariants: reading the state: %v", err)
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("invariants: cannot read the state: %v", err)
			}
			v.add("did not settle", "escalations still unfinished %s after the load", prof.converge)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Late duplicates (a retried message, a second audit row) would show up
	// now; the final read is the one checked.
	time.Sleep(1500 * time.Millisecond)
	if s, err = c.snapshot(ctx, es, known); err != nil {
		t.Fatalf("invariants: cannot read the state: %v", err)
	}
	retried := 0
	for _, n := range s.notifications {
		if n.attempts > 1 {
			retried++
		}
	}
	t.Logf("invariants: settled after %s; %d approvals, %d consultations, %d notification steps (%d took more than one attempt)",
		time.Since(start).Round(100*time.Millisecond), s.approvalRows, len(s.consultations), len(s.notifications), retried)

	byID := map[string]*escalation{}
	byConv := map[int]int{}
	for _, ap := range s.approvals {
		byConv[ap.conv]++
	}
	for _, e := range es {
		id := e.ID()
		if id == "" {
			continue
		}
		if other, dup := byID[id]; dup {
			v.add("two escalations got one approval", "#%d and #%d → %s", other.n, e.n, id)
		}
		byID[id] = e
		ap, ok := s.approvals[id]
		switch {
		case !ok:
			v.add("approval missing from the database", "#%d %s", e.n, id)
			continue
		case (ap.status == "pending" || ap.status == "info_requested") && s.workflows[contract.EscalationWorkflowID(id)] != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			v.add("waiting approval without a running workflow", "#%d %s is %s, its workflow %s", e.n, id, ap.status, s.workflows[contract.EscalationWorkflowID(id)])
		case ap.status != e.want:
			v.add("approval not in its final state", "#%d %s is %s, want %s", e.n, id, ap.status, e.want)
		case ap.approvedBy != e.decidedBy() || ap.requestedBy != e.agent:
			v.add("approval decided or requested by the wrong user", "#%d %s requested by %q decided by %q", e.n, id, ap.requestedBy, ap.approvedBy)
		}
		if byConv[e.conv] != 1 {
			v.add("escalation doubled: more than one approval for a conversation", "#%d conversation %d has %d approvals", e.n, e.conv, byConv[e.conv])
		}

		// Temporal: the escalation's workflow closed, completed; or,
		// approved, still running the consultation it opened (checked
		// with the consultations below), its state read by query.
		wid := contract.EscalationWorkflowID(id)
		st := s.workflows[wid]
		consulting := st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && e.want == "approved" && s.runsConsultation(id)
		if st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && !consulting {
			v.add("escalation workflow not completed", "#%d %s: %s", e.n, wid, st)
		} else {
			state, err := c.escalationState(ctx, wid, consulting)
			if err != nil {
				v.add("escalation workflow result unreadable", "#%d %s: %v", e.n, wid, err)
			} else {
				decided := state.Phase == contract.PhaseDecided && state.Decision != nil && state.Decision.Status == e.want
				expired := state.Phase == contract.PhaseClosed && state.Decision == nil && state.Approval != nil && state.Approval.Status == e.want
				if (e.want == "expired" && !expired) || (e.want != "expired" && !decided) {
					v.add("escalation workflow ended in the wrong phase", "#%d %s: phase %s decision %+v", e.n, wid, state.Phase, state.Decision)
				}
				for _, n := range state.Notifications {
					if n.Status != "sent" {
						v.add("notification not sent", "#%d %s: %s %s %s", e.n, wid, n.Kind, n.Status, n.Reason)
					}
				}
				if cs := consultationsOf(s, id); consulting && (len(cs) != 1 || state.ConsultationID != cs[0].id) {
					v.add("escalation runs another consultation than its row", "#%d %s: runs %q, rows %v", e.n, wid, state.ConsultationID, cs)
				}
			}
		}

		// Audit: one row per transition, nothing else.
		trail := s.audit["approval/"+id]
		if trail["approval.created"] != 1 {
			v.add("approval.created not exactly once", "#%d %s: %d rows", e.n, id, trail["approval.created"])
		}
		ends := []string{"approved", "rejected", "expired"}
		for _, end := range ends {
			if want := b2i(end == e.want); trail["approval."+end] != want {
				v.add("decision audit not exactly once", "#%d %s: approval.%s ×%d, want ×%d", e.n, id, end, trail["approval."+end], want)
			}
		}
		if trail["approval.reminded"] != e.reminders {
			v.add("reminder audit not exactly once per reminder", "#%d %s: approval.reminded ×%d, want ×%d", e.n, id, trail["approval.reminded"], e.reminders)
		}
		for action, n := range trail {
			if action != "approval.created" && action != "approval.reminded" && !slices.Contains(ends, strings.TrimPrefix(action, "approval.")) {
				v.add("unexpected audit entry on an approval", "#%d %s: %s ×%d", e.n, id, action, n)
			}
		}

		// Chatwoot: one message of each kind.
		m := s.messages[e.conv]
		wantPublic, wantDecided, wantExpired := b2i(e.want == "approved"), b2i(e.want != "expired"), b2i(e.want == "expired")
		if m.escalated != 1 || m.decided != wantDecided || m.public != wantPublic || m.expired != wantExpired || m.reminders != e.reminders {
			v.add("Chatwoot messages not exactly one of each kind",
				"#%d %s conversation %d: escalation notes %d, decision notes %d, join-link messages %d, expiry notes %d, reminder notes %d (want 1, %d, %d, %d, %d)",
				e.n, id, e.conv, m.escalated, m.decided, m.public, m.expired, m.reminders, wantDecided, wantPublic, wantExpired, e.reminders)
		}
		if len(m.other) > 0 {
			v.add("unexpected Chatwoot messages", "#%d conversation %d: %s", e.n, e.conv, strings.Join(m.other, ", "))
		}
		if !m.label {
			v.add("conversation not labelled escalated", "#%d conversation %d", e.n, e.conv)
		}
	}
	for id, ap := range s.approvals {
		if byID[id] == nil {
			v.add("approval no client created (doubled or stray)", "%s (%s, conversation %d)", id, ap.status, ap.conv)
		}
	}
	if s.approvalRows != len(byID) {
		v.add("approval count", "%d rows for %d escalations", s.approvalRows, len(byID))
	}

	// Consultations: none without an approval, one per approved escalation.
	consByApproval := map[string][]consultationRow{}
	for _, cr := range s.consultations {
		ap, ok := s.approvals[cr.approvalID]
		switch {
		case cr.approvalID == "":
			v.add("consultation without an approval", "%s", cr.id)
		case !ok:
			v.add("consultation points at a missing approval", "%s → %s", cr.id, cr.approvalID)
		case ap.status != "approved":
			v.add("consultation of an approval that is not approved", "%s → %s (%s)", cr.id, cr.approvalID, ap.status)
		}
		consByApproval[cr.approvalID] = append(consByApproval[cr.approvalID], cr)
		trail := s.audit["consultation/"+cr.id]
		if trail["consultation.created"] != 1 {
			v.add("consultation.created not exactly once", "%s: %d rows", cr.id, trail["consultation.created"])
		}
		for action, n := range trail {
			if action != "consultation.created" {
				v.add("unexpected audit entry on a consultation", "%s: %s ×%d", cr.id, action, n)
			}
		}
		// Nobody starts a consultation in the drills: whichever workflow
		// runs it (the escalation's, or its own) waits for the start.
		wid := cr.owner
		if d, err := c.tc.DescribeWorkflow(ctx, wid, ""); err != nil {
			v.add("consultation workflow missing", "%s: %v", wid, err)
		} else if st := d.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			v.add("consultation workflow not running", "%s: %s", wid, st)
		}
	}
	for _, e := range es {
		id := e.ID()
		if id == "" {
			continue
		}
		n := len(consByApproval[id])
		if e.want == "approved" && n != 1 {
			v.add("approved escalation without exactly one consultation", "#%d %s: %d", e.n, id, n)
		}
		if e.want != "approved" && n != 0 {
			v.add(e.want+" escalation with a consultation", "#%d %s: %d", e.n, id, n)
		}
	}
	for k := range s.audit {
		res, id, _ := strings.Cut(k, "/")
		if res == "policy" && id == tenant {
			continue // checked below
		}
		if (res == "approval" && byID[id] == nil) || (res != "approval" && res != "consultation") {
			v.add("audit entries on an unknown resource", "%s: %v", k, s.audit[k])
		}
	}
	if trail := s.audit["policy/"+tenant]; trail["policy.updated"] != c.policyUpdates || len(trail) > min(c.policyUpdates, 1) {
		v.add("policy audit not exactly once per change", "%v for %d changes", trail, c.policyUpdates)
	}

	// The notifications table: every step finished as sent.
	perApproval := map[string]int{}
	for _, n := range s.notifications {
		perApproval[n.approvalID]++
		if n.status != "sent" {
			v.add("notification step not sent", "%s: %s after %d attempts", n.key, n.status, n.attempts)
		}
	}
	for _, e := range es {
		id := e.ID()
		if id == "" {
			continue
		}
		want := e.wantNotifications()
		if perApproval[id] != want {
			v.add("notification steps missing or extra", "#%d %s: %d rows, want %d", e.n, id, perApproval[id], want)
		}
	}
	if vs := c.cw.Violations(); len(vs) > 0 {
		sort.Strings(vs)
		v.add("Chatwoot API spec violations", "%s", strings.Join(vs, "; "))
	}
	v.report(t)
	if stuck := v.byKind["escalation workflow not completed"]; len(stuck) > 0 {
		n := 0
		for _, e := range es {
			wid := contract.EscalationWorkflowID(e.ID())
			if e.ID() == "" || s.workflows[wid] == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				continue
			}
			ap := s.approvals[e.ID()]
			t.Logf("unfinished #%d: database says %s by %q, %d consultation row(s); Chatwoot: %d escalation, %d decision, %d join-link message(s); Temporal: %s",
				e.n, ap.status, ap.approvedBy, len(consultationsOf(s, e.ID())), s.messages[e.conv].escalated, s.messages[e.conv].decided,
				s.messages[e.conv].public, c.diagnose(ctx, wid))
			if n++; n == 3 {
				break
			}
		}
	}
	c.checkProcesses()
}

// wantNotifications is how many notification steps the escalation makes:
// escalated: note, label, priority; decided or expired: note;
// consultation: message; one note per reminder.
func (e *escalation) wantNotifications() int {
	return 4 + b2i(e.want == "approved") + e.reminders
}

// escalationState is the escalation's state: its result once completed,
// its state query while it runs.
func (c *cluster) escalationState(ctx context.Context, wid string, running bool) (*contract.EscalationState, error) {
	var state contract.EscalationState
	if !running {
		if err := c.tc.GetWorkflow(ctx, wid, "").Get(ctx, &state); err != nil {
			return nil, fmt.Errorf("result: %w", err)
		}
		return &state, nil
	}
	// A query needs a worker: the first after a worker was killed can
	// time out while the server gives up on the dead worker's sticky
	// queue, so it is asked again (the workflow's own state is the same).
	var err error
	for attempt := 1; attempt <= 4; attempt++ {
		if err = c.queryState(ctx, wid, &state); err == nil {
			return &state, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	return nil, fmt.Errorf("state query: %w", err)
}

func (c *cluster) queryState(ctx context.Context, wid string, state *contract.EscalationState) error {
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	q, err := c.tc.QueryWorkflow(qctx, wid, "", contract.QueryState)
	if err != nil {
		return err
	}
	return q.Get(state)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func consultationsOf(s *snapshot, approvalID string) []consultationRow {
	var out []consultationRow
	for _, c := range s.consultations {
		if c.approvalID == approvalID {
			out = append(out, c)
		}
	}
	return out
}
