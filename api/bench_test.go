package api_test

import (
	"net/http"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// BenchmarkListApprovalsHandler is the read path without the network: auth,
// validation, the store's scoped read and the JSON answer.
func BenchmarkListApprovalsHandler(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			s := newHostileServer(b, d)
			req := hostileRequest{method: "GET", path: "/api/approvals", rawQuery: "tenantId=" + hostileTenant}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if rec := s.do(req); rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkCreateApprovalValidation is a create up to the call to Temporal:
// decoding, validation and the tenant check (the fake Temporal answers 503).
func BenchmarkCreateApprovalValidation(b *testing.B) {
	s := newHostileServer(b, store.SQLite)
	body := []byte(`{"tenantId":"` + hostileTenant + `","title":"Refund above limit","description":"2,000 EUR","priority":"high","metadata":{"ticket":42},"conversation":{"accountId":1,"conversationId":7}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rec := s.do(hostileRequest{method: "POST", path: "/api/approvals", body: body}); rec.Code != http.StatusServiceUnavailable {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
