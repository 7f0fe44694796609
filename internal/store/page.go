package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ErrBadCursor means a cursor did not come from this API.
var ErrBadCursor = errors.New("cursor is not valid")

// Cursor is a keyset position: the last row of the previous page.
type Cursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

// Encode makes the opaque string clients pass back.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a client's cursor; an empty string is no cursor.
func DecodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 200 {
		return nil, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.CreatedAt.IsZero() {
		return nil, ErrBadCursor
	}
	if _, err := uuid.Parse(c.ID); err != nil {
		return nil, ErrBadCursor
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if y := c.CreatedAt.Year(); y < 1 || y > 9999 { // beyond what Encode can write back
		return nil, ErrBadCursor
	}
	return &c, nil
}

// ClampLimit applies the default and the maximum.
func ClampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// NewID returns a time-ordered UUID (v7), so ids sort like creation times.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ValidID reports whether s is a UUID; anything else cannot name a row, and is
// answered as not found before it reaches the database.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
