package api

import (
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// maxIdemKey bounds an Idempotency-Key.
const maxIdemKey = 200

// idempotencyKey is the one rule for the Idempotency-Key header, on every
// route that takes it: absent is "", anything but 1 to 200 bytes of UTF-8 is
// the caller's mistake (400), never silently ignored.
func idempotencyKey(c *gin.Context) (string, error) {
	key := c.GetHeader("Idempotency-Key")
	if key != "" && (len(key) > maxIdemKey || !utf8.ValidString(key)) {
		return "", invalid(FieldError{"Idempotency-Key", "must be at most 200 bytes of UTF-8"})
	}
	return key, nil
}

var idempotencyNamespace = uuid.MustParse("9b7e4f0c-6a55-4c71-8f0e-3c2d1a9e5b47")

// Kinds of keyed ids. Approvals and audit entries have no prefix: their ids
// were derived that way before there were other kinds, and a retry of a
// request sent then must still find its row.
const (
	keyedApproval     = ""
	keyedAudit        = ""
	keyedConsultation = "consultation\x00"
	keyedDecision     = "decision\x00"
)

// keyedID derives a stable id from the caller's key, scoped to the kind, the
// tenant (or resource) and the caller: the same request retried finds the
// same id, and one caller's key never names another's.
func keyedID(kind, scope, subject, key string) string {
	return uuid.NewSHA1(idempotencyNamespace, []byte(kind+scope+"\x00"+subject+"\x00"+key)).String()
}
