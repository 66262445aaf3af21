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
	if cfg.Interval != 10*time.Minute || cfg.MinInterval != time.Minute || cfg.Tick != 2*time.Second ||
		cfg.LeaseTTL != 15*time.Second || cfg.Plan != "auto" || cfg.ASURate != 3 || cfg.ASUSectionsRate != 200 {
		t.Errorf("config = %+v", cfg)
	}

	bad := map[string]string{"REDIS_URL": "http://x", "SCHEDULER_INTERVAL": "soon", "LOG_LEVEL": "loud",
		"SCHEDULER_PLAN": "fastest", "ASU_SECTIONS_RATE": "0"}
	_, err = loadConfig(func(k string) string { return bad[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"DATABASE_URL", "REDIS_URL", "SCHEDULER_INTERVAL", "LOG_LEVEL", "SCHEDULER_PLAN", "ASU_SECTIONS_RATE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestLoadConfigMinIntervalWithinInterval(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL": "postgres://u:p@localhost/db", "REDIS_URL": "redis://localhost:6379/0",
		"SCHEDULER_INTERVAL": "30s", "SCHEDULER_MIN_INTERVAL": "2m",
	}
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "SCHEDULER_MIN_INTERVAL") {
		t.Errorf("min interval over the interval: err = %v", err)
	}
	delete(env, "SCHEDULER_MIN_INTERVAL")
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.MinInterval != 30*time.Second {
		t.Errorf("default min interval under a 30s interval = %s, %v; want 30s", cfg.MinInterval, err)
	}
}
