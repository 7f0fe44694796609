package api

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Lists page by keyset: a page's items and the cursor of the next page.
type listResponse[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

func newList[T any](items []T, next *store.Cursor) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	r := listResponse[T]{Items: items}
	if next != nil {
		s := next.Encode()
		r.NextCursor = &s
	}
	return r
}

// onlyQuery refuses a query parameter other than the known ones: a
// misspelt filter answers 400 rather than an unfiltered result.
func onlyQuery(c *gin.Context, known ...string) error {
	for k := range c.Request.URL.Query() {
		if !contains(known, k) {
			return invalid(FieldError{clip(k, 100), "is not a known query parameter"})
		}
	}
	return nil
}

// listParams reads tenantId, limit and cursor (and the allowed filters), and
// checks membership of the tenant.
func listParams(c *gin.Context, allowed ...string) (tenant string, limit int, cur *store.Cursor, err error) {
	if err := onlyQuery(c, append([]string{"tenantId", "limit", "cursor"}, allowed...)...); err != nil {
		return "", 0, nil, err
	}
	tenant = c.Query("tenantId")
	var f fields
	if f.tenantID("tenantId", tenant); len(f) > 0 {
		return "", 0, nil, f.err()
	}
	if !principal(c).MemberOf(tenant) {
		return "", 0, nil, errNotMember
	}
	logTenant(c, tenant)
	if limit, err = limitParam(c); err != nil {
		return "", 0, nil, err
	}
	cur, err = store.DecodeCursor(c.Query("cursor"))
	return tenant, limit, cur, err
}

// limitParam reads ?limit=, 0 when absent.
func limitParam(c *gin.Context) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxLimit {
		return 0, invalid(FieldError{"limit", "must be a whole number from 1 to 200"})
	}
	return n, nil
}
