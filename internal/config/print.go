package config

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Print writes the effective configuration, one VARIABLE=value a line, with
// secrets masked so the output can be pasted into a ticket.
func (c *Config) Print(w io.Writer) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" || name == "-" {
			continue
		}
		val := format(v.Field(i).Interface(), f.Tag.Get("secret"))
		if _, err := fmt.Fprintf(w, "%s=%s\n", name, val); err != nil {
			return fmt.Errorf("print config: %w", err)
		}
	}
	return nil
}

func format(val any, secret string) string {
	switch x := val.(type) {
	case string:
		switch {
		case x == "":
			return ""
		case secret == "true":
			return "********"
		case secret == "url":
			return MaskURL(x)
		}
		return x
	case time.Duration:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	case []string:
		return strings.Join(x, ",")
	case map[string]string:
		parts := make([]string, 0, len(x))
		for _, k := range sortedKeys(x) {
			if secret != "" {
				parts = append(parts, k+"=********")
			} else {
				parts = append(parts, k+"="+x[k])
			}
		}
		return strings.Join(parts, ",")
	case map[string][]string:
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, k+"="+strings.Join(x[k], "|"))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(val)
}

// MaskURL hides the password of a URL's user info (and any password query
// parameter), keeping the rest readable.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "********"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
