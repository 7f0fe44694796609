package domain

import (
	"errors"
	"net/url"
	"strings"
)

// SplitDatabaseURL returns the driver ("postgres" or "sqlite") and the DSN
// the driver takes of a DATABASE_URL: the store opens what the configuration
// checked at start, by the same reading.
func SplitDatabaseURL(raw string) (driver, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", errors.New("is not a valid postgres URL")
		}
		return "postgres", raw, nil
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		if path == "" {
			return "", "", errors.New("sqlite:// needs a file path, e.g. sqlite://.data/orchestrator.db")
		}
		return "sqlite", path, nil
	default:
		return "", "", errors.New("must start with postgres://, postgresql:// or sqlite://")
	}
}
