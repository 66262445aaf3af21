package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":       "postgres://u:p@db/pmc",
		"REDIS_URL":          "rediss://:secret@redis.example.com:6380/0",
		"SMTP_URL":           "smtps://u:p@smtp.example.com",
		"UNSUBSCRIBE_SECRET": strings.Repeat("k", 32),
		"PUBLIC_BASE_URL":    "https://pickmyclass.app",
		"WORKER_NAME":        "w1",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 32 || cfg.MaxDeliveries != 3 || cfg.VisibilityTimeout != 2*time.Minute ||
		cfg.BreakerFail != 10 || cfg.BreakerOpen != 2*time.Minute || cfg.BreakerOK != 3 ||
		cfg.BackoffBase != time.Minute || cfg.BackoffMax != 15*time.Minute || cfg.domain() != "pickmyclass.app" ||
		cfg.ASUContact != "ops@pickmyclass.app" || cfg.ASUBaseURL != "https://eadvs-cscc-catalog-api.apps.asu.edu/catalog-microservices/api/v1/search" ||
		cfg.ChannelConcurrency != 64 || cfg.ChannelRate != 1 || cfg.ChannelBurst != 5 || cfg.VAPIDPublicKey != "" {
		t.Errorf("defaults = %+v", cfg)
	}

	bad := map[string]string{
		"DATABASE_URL": "mysql://x", "REDIS_URL": "redis://r", "SMTP_URL": "http://mail",
		"UNSUBSCRIBE_SECRET": "short", "ASU_RATE": "NaN", "WORKER_VISIBILITY_TIMEOUT": "10s", "ASU_TIMEOUT": "15s",
		"ASU_CONTACT":      "ops@example.edu\x7f(",
		"VAPID_PUBLIC_KEY": "BPub", "VAPID_SUBJECT": "ops@example.com",
	}
	_, err = loadConfig(func(k string) string { return bad[k] })
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"DATABASE_URL", "SMTP_URL", "UNSUBSCRIBE_SECRET", "ASU_RATE", "WORKER_VISIBILITY_TIMEOUT", "ASU_CONTACT",
		"VAPID_PRIVATE_KEY", "VAPID_SUBJECT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
