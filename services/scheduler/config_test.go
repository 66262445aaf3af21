package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":       "postgres://u:p@localhost/db",
		"REDIS_URL":          "rediss://:secret@redis.example.com:6380/0",
		"SCHEDULER_INTERVAL": "10m",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 10*time.Minute || cfg.Tick != time.Minute || cfg.LeaseTTL != 15*time.Second {
		t.Errorf("config = %+v", cfg)
	}

	bad := map[string]string{"REDIS_URL": "http://x", "SCHEDULER_INTERVAL": "soon", "LOG_LEVEL": "loud"}
	_, err = loadConfig(func(k string) string { return bad[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"DATABASE_URL", "REDIS_URL", "SCHEDULER_INTERVAL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
