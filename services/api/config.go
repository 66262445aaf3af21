package main

import (
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

type config struct {
	envconf.Common
	Addr              string
	OpsAddr           string
	UnsubscribeSecret string
	TrustedProxies    string
	SchedulerInterval time.Duration
	Grace             time.Duration
	PublicBaseURL     string
	SMTPURL           string
	MailFrom          string
	ASUBaseURL        string
	ASUTimeout        time.Duration
	ASURate           float64
	ASUContact        string
	// The shared breaker's thresholds, as the workers have them: the
	// api's lookups report to the same breaker.
	BreakerFail         int
	BreakerOpen         time.Duration
	BreakerOK           int
	WatchLimit          int
	LookupsPerMinute    int
	AuthRatePerMinute   int
	ResendWebhookSecret string
	EmailWebhookSecret  string
	VAPID               channel.VAPID
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Common:              r.Common(),
		Addr:                r.String("API_ADDR", "127.0.0.1:8080"),
		OpsAddr:             r.String("API_OPS_ADDR", "127.0.0.1:9100"),
		UnsubscribeSecret:   r.Secret("UNSUBSCRIBE_SECRET", notify.MinKeyLen),
		TrustedProxies:      r.String("API_TRUSTED_PROXIES", ""),
		SchedulerInterval:   r.Duration("SCHEDULER_INTERVAL", 30*time.Minute, time.Second, 24*time.Hour),
		Grace:               r.Duration("API_SHUTDOWN_TIMEOUT", 10*time.Second, 0, 5*time.Minute),
		PublicBaseURL:       r.URL("PUBLIC_BASE_URL", "http://localhost:8080", "http", "https"),
		SMTPURL:             r.URL("SMTP_URL", "", "smtp", "smtps"),
		MailFrom:            r.String("MAIL_FROM", "PickMyClass <alerts@pickmyclass.app>"),
		ASUBaseURL:          r.URL("ASU_API_BASE_URL", asu.DefaultBaseURL, "http", "https"),
		ASUTimeout:          r.Duration("ASU_TIMEOUT", 15*time.Second, time.Second, 2*time.Minute),
		ASURate:             r.Float("ASU_RATE", 3, 0.01, 1000),
		ASUContact:          r.String("ASU_CONTACT", asu.DefaultContact),
		BreakerFail:         r.Int("BREAKER_FAILURES", 10, 1, 1000),
		BreakerOpen:         r.Duration("BREAKER_OPEN_TIMEOUT", 2*time.Minute, 100*time.Millisecond, time.Hour),
		BreakerOK:           r.Int("BREAKER_SUCCESSES", 3, 1, 100),
		WatchLimit:          r.Int("API_WATCH_LIMIT", store.DefaultWatchLimit, 1, 1000),
		LookupsPerMinute:    r.Int("API_LOOKUPS_PER_MINUTE", 10, 1, 10000),
		AuthRatePerMinute:   r.Int("API_AUTH_RATE_PER_MINUTE", 20, 1, 100000),
		ResendWebhookSecret: r.String("RESEND_WEBHOOK_SECRET", ""),
		EmailWebhookSecret:  r.String("EMAIL_WEBHOOK_SECRET", ""),
		VAPID: channel.VAPID{
			PublicKey:  r.String("VAPID_PUBLIC_KEY", ""),
			PrivateKey: r.String("VAPID_PRIVATE_KEY", ""),
			Subject:    r.String("VAPID_SUBJECT", "mailto:ops@pickmyclass.app"),
		},
	}
	if err := c.VAPID.Check(); err != nil {
		r.Fail("%v", err)
	}
	if err := asu.CheckContact(c.ASUContact); err != nil {
		r.Fail("ASU_CONTACT: %v", err)
	}
	if c.EmailWebhookSecret != "" && len(c.EmailWebhookSecret) < 32 {
		r.Fail("EMAIL_WEBHOOK_SECRET must be at least 32 characters")
	}
	return c, r.Err()
}
