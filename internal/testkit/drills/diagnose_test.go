package drills

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// diagnose describes a workflow that did not finish: its pending work and the
// tail of its history, for the failure report.
func (c *cluster) diagnose(ctx context.Context, wid string) string {
	var b strings.Builder
	d, err := c.tc.DescribeWorkflow(ctx, wid, "")
	if err != nil {
		return fmt.Sprintf("%s: describe: %v", wid, err)
	}
	info := d.RawResponse.GetWorkflowExecutionInfo()
	fmt.Fprintf(&b, "%s: %s, %d history events", wid, info.GetStatus(), info.GetHistoryLength())
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && strings.HasPrefix(wid, contract.EscalationWorkflowID("")) {
		var state contract.EscalationState
		if q, err := c.tc.QueryWorkflow(ctx, wid, "", contract.QueryState); err != nil {
			fmt.Fprintf(&b, "; state query: %v", err)
		} else if err := q.Get(&state); err == nil {
			fmt.Fprintf(&b, "; state query: phase %s, decision %+v", state.Phase, state.Decision)
		}
	}
	if wt := d.RawResponse.GetPendingWorkflowTask(); wt != nil {
		fmt.Fprintf(&b, "; pending workflow task %s attempt %d scheduled %s started %s", wt.GetState(), wt.GetAttempt(),
			wt.GetScheduledTime().AsTime().Format("15:04:05.000"), wt.GetStartedTime().AsTime().Format("15:04:05.000"))
	}
	for _, a := range d.RawResponse.GetPendingActivities() {
		fmt.Fprintf(&b, "; pending activity %s %s attempt %d last failure %q", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(),
			a.GetLastFailure().GetMessage())
	}
	for _, ch := range d.RawResponse.GetPendingChildren() {
		fmt.Fprintf(&b, "; pending child %s", ch.GetWorkflowId())
	}
	var events []*historypb.HistoryEvent
	it := c.tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			fmt.Fprintf(&b, "; history: %v", err)
			break
		}
		events = append(events, e)
	}
	if len(events) > 25 {
		events = events[len(events)-25:]
	}
	for _, e := range events {
		fmt.Fprintf(&b, "\n      %3d %s %s%s", e.GetEventId(), e.GetEventTime().AsTime().Format("15:04:05.000"), e.GetEventType(), eventDetail(e))
	}
	return b.String()
}

func eventDetail(e *historypb.HistoryEvent) string {
	switch {
	case e.GetWorkflowTaskFailedEventAttributes() != nil:
		a := e.GetWorkflowTaskFailedEventAttributes()
		return fmt.Sprintf(" cause=%s %q", a.GetCause(), a.GetFailure().GetMessage())
	case e.GetWorkflowTaskTimedOutEventAttributes() != nil:
		return " " + e.GetWorkflowTaskTimedOutEventAttributes().GetTimeoutType().String()
	case e.GetMarkerRecordedEventAttributes() != nil:
		return " " + e.GetMarkerRecordedEventAttributes().GetMarkerName()
	case e.GetActivityTaskScheduledEventAttributes() != nil:
		return " " + e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
	case e.GetActivityTaskTimedOutEventAttributes() != nil:
		return " " + e.GetActivityTaskTimedOutEventAttributes().GetFailure().GetMessage()
	case e.GetWorkflowExecutionUpdateAcceptedEventAttributes() != nil:
		return " " + e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName()
	case e.GetWorkflowExecutionFailedEventAttributes() != nil:
		var msgs []string
		for f := e.GetWorkflowExecutionFailedEventAttributes().GetFailure(); f != nil; f = f.GetCause() {
			msgs = append(msgs, f.GetMessage())
		}
		return fmt.Sprintf(" %q", strings.Join(msgs, ": "))
	case e.GetWorkflowExecutionSignaledEventAttributes() != nil:
		return " " + e.GetWorkflowExecutionSignaledEventAttributes().GetSignalName()
	}
	return ""
}
