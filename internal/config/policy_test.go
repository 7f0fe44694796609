package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

func TestApprovalPolicyDefaults(t *testing.T) {
	c, err := config.Load(config.ModeDev, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApprovalTTL != 72*time.Hour || c.ApprovalMaxTTL != 720*time.Hour || len(c.ApprovalReminders) != 0 || c.PolicyMaxTTLCeiling != 8760*time.Hour {
		t.Fatalf("defaults: ttl %v, max %v, reminders %v", c.ApprovalTTL, c.ApprovalMaxTTL, c.ApprovalReminders)
	}
	c, err = config.Load(config.ModeDev, env(map[string]string{
		"APPROVAL_TTL": "24h", "APPROVAL_MAX_TTL": "48h", "APPROVAL_REMINDERS": " 4h, 30m ,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApprovalTTL != 24*time.Hour || c.ApprovalMaxTTL != 48*time.Hour ||
		!slices.Equal(c.ApprovalReminders, config.Durations{4 * time.Hour, 30 * time.Minute}) {
		t.Fatalf("set: ttl %v, max %v, reminders %v", c.ApprovalTTL, c.ApprovalMaxTTL, c.ApprovalReminders)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"APPROVAL_TTL=24h0m0s\n", "APPROVAL_MAX_TTL=48h0m0s\n", "APPROVAL_REMINDERS=4h0m0s,30m0s\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("config output lacks %q:\n%s", line, b.String())
		}
	}
}

func TestApprovalPolicyIsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // variables the error names
	}{
		{"ttl not a duration", map[string]string{"APPROVAL_TTL": "three days"}, []string{"APPROVAL_TTL"}},
		{"ttl zero", map[string]string{"APPROVAL_TTL": "0s"}, []string{"APPROVAL_TTL"}},
		{"max negative", map[string]string{"APPROVAL_MAX_TTL": "-1h"}, []string{"APPROVAL_MAX_TTL"}},
		{"default beyond max", map[string]string{"APPROVAL_TTL": "800h"}, []string{"APPROVAL_TTL"}},
		{"fraction of a second", map[string]string{"APPROVAL_TTL": "1.5s"}, []string{"APPROVAL_TTL"}},
		{"reminder not a duration", map[string]string{"APPROVAL_REMINDERS": "4h,tomorrow"}, []string{"APPROVAL_REMINDERS"}},
		{"reminder at the max", map[string]string{"APPROVAL_MAX_TTL": "24h", "APPROVAL_TTL": "24h", "APPROVAL_REMINDERS": "24h"}, []string{"APPROVAL_REMINDERS"}},
		{"reminder negative", map[string]string{"APPROVAL_REMINDERS": "-4h"}, []string{"APPROVAL_REMINDERS"}},
		{"reminder twice", map[string]string{"APPROVAL_REMINDERS": "4h,240m"}, []string{"APPROVAL_REMINDERS"}},
		{"eleven reminders", map[string]string{"APPROVAL_REMINDERS": "1h,2h,3h,4h,5h,6h,7h,8h,9h,10h,11h"}, []string{"APPROVAL_REMINDERS"}},
		{"max beyond the ceiling", map[string]string{"APPROVAL_MAX_TTL": "8761h"}, []string{"APPROVAL_MAX_TTL"}},
		{"max beyond a lower ceiling", map[string]string{"POLICY_MAX_TTL_CEILING": "100h"}, []string{"APPROVAL_MAX_TTL"}},
		{"ceiling zero", map[string]string{"POLICY_MAX_TTL_CEILING": "0s"}, []string{"POLICY_MAX_TTL_CEILING"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(config.ModeDev, env(tc.env))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want a configuration error, got %v", err)
			}
			for _, name := range tc.want {
				if !strings.Contains(err.Error(), name+": ") {
					t.Errorf("the error does not name %s:\n%v", name, err)
				}
			}
		})
	}
	// Ten reminders, all before the maximum, are fine.
	if _, err := config.Load(config.ModeDev, env(map[string]string{"APPROVAL_REMINDERS": "1h,2h,3h,4h,5h,6h,7h,8h,9h,10h"})); err != nil {
		t.Fatalf("ten reminders: %v", err)
	}
}

func TestCheckApprovalPolicyNamesTheField(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		def, max  time.Duration
		reminders []time.Duration
		fields    []string
	}{
		{h, 2 * h, []time.Duration{30 * time.Minute, h}, nil},
		{2 * h, 2 * h, nil, nil},
		{3 * h, 2 * h, nil, []string{"defaultTtl"}},
		{0, 0, nil, []string{"defaultTtl", "maxTtl"}},
		{h, 2*h + time.Nanosecond, nil, []string{"maxTtl"}},
		{h, 2 * h, []time.Duration{2 * h}, []string{"reminders"}},
		{h, 2 * h, []time.Duration{h, h}, []string{"reminders"}},
		{h, 2 * h, make([]time.Duration, config.MaxApprovalReminders+1), []string{"reminders"}},
	} {
		var fields []string
		for _, p := range config.CheckApprovalPolicy(tc.def, tc.max, tc.reminders) {
			if p.Detail == "" {
				t.Errorf("%+v: a problem without a detail", tc)
			}
			if !slices.Contains(fields, p.Field) {
				fields = append(fields, p.Field)
			}
		}
		if !slices.Equal(fields, tc.fields) {
			t.Errorf("default %v, max %v, reminders %v: problems with %v, want %v", tc.def, tc.max, tc.reminders, fields, tc.fields)
		}
	}
}

func TestCreateRateLimit(t *testing.T) {
	c, err := config.Load(config.ModeAPI, env(map[string]string{"DECISION_KEY": strings.Repeat("k", 32), "OIDC_ISSUER_URL": "https://sso.example.com/realms/a"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CreateRateLimit != (config.RateLimit{N: 60, Per: time.Minute}) || c.WebhookDedupeRetention != 7*24*time.Hour {
		t.Fatalf("defaults: %v, %v", c.CreateRateLimit, c.WebhookDedupeRetention)
	}
	for v, want := range map[string]config.RateLimit{
		"0": {}, "60/min": {60, time.Minute}, "5/s": {5, time.Second}, "1000/h": {1000, time.Hour}, "10/30s": {10, 30 * time.Second},
	} {
		got, err := config.ParseRateLimit(v)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", v, got, err, want)
		}
		if again, err := config.ParseRateLimit(got.String()); err != nil || again != got {
			t.Errorf("%q prints as %q, which reads back as %+v %v", v, got.String(), again, err)
		}
	}
	for _, v := range []string{"", "60", "-1/min", "60/fortnight", "1/0.5s", "1/48h", "x/min"} {
		if _, err := config.ParseRateLimit(v); err == nil {
			t.Errorf("%q: want an error", v)
		}
	}
	if _, err := config.Load(config.ModeDev, env(map[string]string{"CREATE_RATE_LIMIT": "lots"})); err == nil || !strings.Contains(err.Error(), "CREATE_RATE_LIMIT: ") {
		t.Errorf("a bad CREATE_RATE_LIMIT: %v", err)
	}
	if _, err := config.Load(config.ModeDev, env(map[string]string{"WEBHOOK_DEDUPE_RETENTION": "1m"})); err == nil || !strings.Contains(err.Error(), "WEBHOOK_DEDUPE_RETENTION: ") {
		t.Errorf("a retention under an hour: %v", err)
	}
}
