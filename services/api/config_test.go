package main

import (
	"testing"
	"time"
)

// TestLoadConfigBreakerAndLookups: the api reads the shared breaker's
// thresholds as the workers do, and its lookup budget.
func TestLoadConfigBreakerAndLookups(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":           "postgres://u:p@localhost/db",
		"REDIS_URL":              "redis://localhost:6379/0",
		"UNSUBSCRIBE_SECRET":     "0123456789abcdef0123456789abcdef",
		"SMTP_URL":               "smtp://localhost:25?tls=none",
		"BREAKER_FAILURES":       "4",
		"BREAKER_OPEN_TIMEOUT":   "30s",
		"BREAKER_SUCCESSES":      "2",
		"API_LOOKUPS_PER_MINUTE": "7",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.BreakerFail != 4 || c.BreakerOpen != 30*time.Second || c.BreakerOK != 2 || c.LookupsPerMinute != 7 {
		t.Errorf("config = %+v", c)
	}
	env["BREAKER_FAILURES"] = "0"
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("BREAKER_FAILURES=0 accepted")
	}
}
