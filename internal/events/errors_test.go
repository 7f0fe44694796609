package events_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// What an attempt records as its error is read by the tenant's approvers:
// it names neither the internal address a refused name led to (a name
// rebound to an internal host would otherwise map the internal network
// for whoever owns the name) nor the DNS server the orchestrator asks.
func TestAttemptErrorsRevealNoInternalAddress(t *testing.T) {
	for _, c := range []struct {
		name, url string
		client    *http.Client
		want      string
		hidden    []string
	}{
		{
			name: "refused address", url: "https://127.0.0.1:1/hooks", client: events.NewClient(events.ClientOptions{}),
			want: "not allowed", hidden: []string{"127.0.0.1"},
		},
		{
			name: "name that does not resolve", url: "https://gone.example/hooks",
			client: &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "gone.example", Server: "10.0.0.2:53", IsNotFound: true}}
			}}},
			want: "gone.example", hidden: []string{"10.0.0.2"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storetest.Open(t, store.SQLite)
			sub := subscribe(t, s, c.url)
			queueFor(t, s, sub, "a1", 1)
			d := newDispatcher(s)
			d.Client = c.client
			loop(t, d, sub, 10*time.Second, ended(t, s, sub))
			ds := statusOf(t, s, sub)
			if len(ds) != 1 || ds[0].Status != store.DeliveryFailed || len(ds[0].Attempts) != 1 || ds[0].Attempts[0].Error == nil {
				t.Fatalf("deliveries %+v", ds)
			}
			msg := *ds[0].Attempts[0].Error
			if !strings.Contains(msg, c.want) {
				t.Errorf("attempt error %q does not say %q", msg, c.want)
			}
			for _, h := range c.hidden {
				if strings.Contains(msg, h) {
					t.Errorf("attempt error %q names %s", msg, h)
				}
			}
		})
	}
}
