package main

import (
	"net/url"
	"os"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

type config struct {
	envconf.Common
	OpsAddr string

	Name              string
	Concurrency       int
	VisibilityTimeout time.Duration
	MaxDeliveries     int
	ShutdownTimeout   time.Duration

	ASUBaseURL string
	ASUTimeout time.Duration
	ASURate    float64
	// ASUSectionsRate is the budget of sections fetched per second, shared
	// by every worker.
	ASUSectionsRate float64
	ASUBurst        int
	ASUContact      string
	BackoffBase     time.Duration
	BackoffMax      time.Duration
	BreakerFail     int
	BreakerOpen     time.Duration
	BreakerOK       int

	SMTPURL           string
	MailFrom          string
	MailRate          float64
	PublicBaseURL     string
	UnsubscribeSecret string
	SweepEvery        time.Duration
	SendLease         time.Duration
	SendRetryBase     time.Duration
	SendRetryMax      time.Duration
	// SchedulerInterval is the longest a watched section goes unchecked; a
	// stored observation older than it is no new watcher's baseline.
	SchedulerInterval time.Duration

	// Alert channels beside email.
	ChannelConcurrency int
	ChannelRate        float64
	ChannelBurst       int
	ChannelTimeout     time.Duration
	VAPIDPublicKey     string
	VAPIDPrivateKey    string
	VAPIDSubject       string
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	host, _ := os.Hostname()
	c := config{
		Common:  r.Common(),
		OpsAddr: r.String("WORKER_OPS_ADDR", "127.0.0.1:9102"),

		// A stable name per container lets a restarted worker finish its own
		// pending entries first.
		Name:              r.String("WORKER_NAME", host),
		Concurrency:       r.Int("WORKER_CONCURRENCY", 32, 1, 1024),
		VisibilityTimeout: r.Duration("WORKER_VISIBILITY_TIMEOUT", 2*time.Minute, 100*time.Millisecond, time.Hour),
		MaxDeliveries:     r.Int("WORKER_MAX_DELIVERIES", 3, 1, 100),
		ShutdownTimeout:   r.Duration("WORKER_SHUTDOWN_TIMEOUT", 20*time.Second, 0, 10*time.Minute),

		ASUBaseURL:      r.URL("ASU_API_BASE_URL", asu.DefaultBaseURL, "http", "https"),
		ASUTimeout:      r.Duration("ASU_TIMEOUT", 15*time.Second, 100*time.Millisecond, 2*time.Minute),
		ASURate:         r.Float("ASU_RATE", 3, 0.01, 100000),
		ASUSectionsRate: r.Float("ASU_SECTIONS_RATE", 200, 1, 1e6),
		ASUBurst:        r.Int("ASU_BURST", 3, 1, 100000),
		ASUContact:      r.String("ASU_CONTACT", asu.DefaultContact),
		BackoffBase:     r.Duration("ASU_BACKOFF_BASE", time.Minute, 10*time.Millisecond, time.Hour),
		BackoffMax:      r.Duration("ASU_BACKOFF_MAX", 15*time.Minute, 10*time.Millisecond, 24*time.Hour),
		BreakerFail:     r.Int("BREAKER_FAILURES", 10, 1, 1000),
		BreakerOpen:     r.Duration("BREAKER_OPEN_TIMEOUT", 2*time.Minute, 100*time.Millisecond, time.Hour),
		BreakerOK:       r.Int("BREAKER_SUCCESSES", 3, 1, 100),

		SMTPURL:           r.URL("SMTP_URL", "", "smtp", "smtps"),
		MailFrom:          r.String("MAIL_FROM", "PickMyClass <alerts@pickmyclass.app>"),
		MailRate:          r.Float("MAIL_RATE", 10, 0.01, 100000),
		PublicBaseURL:     r.URL("PUBLIC_BASE_URL", "http://localhost:8080", "http", "https"),
		UnsubscribeSecret: r.Secret("UNSUBSCRIBE_SECRET", notify.MinKeyLen),
		SweepEvery:        r.Duration("WORKER_SWEEP_INTERVAL", 30*time.Second, 50*time.Millisecond, time.Hour),
		SendLease:         r.Duration("WORKER_SEND_LEASE", 2*time.Minute, time.Second, time.Hour),
		SendRetryBase:     r.Duration("WORKER_SEND_RETRY_BASE", store.DefaultSendRetryBase, 10*time.Millisecond, time.Hour),
		SendRetryMax:      r.Duration("WORKER_SEND_RETRY_MAX", store.DefaultSendRetryMax, 10*time.Millisecond, 24*time.Hour),
		SchedulerInterval: r.Duration("SCHEDULER_INTERVAL", store.DefaultBaselineMaxAge, time.Second, 24*time.Hour),

		ChannelConcurrency: r.Int("CHANNEL_CONCURRENCY", 64, 1, 4096),
		// Discord allows about five requests per two seconds per webhook;
		// one a second with a burst of five stays under every service's
		// per-destination limit.
		ChannelRate:     r.Float("CHANNEL_RATE", 1, 0.01, 1000),
		ChannelBurst:    r.Int("CHANNEL_BURST", 5, 1, 1000),
		ChannelTimeout:  r.Duration("CHANNEL_TIMEOUT", 10*time.Second, 100*time.Millisecond, 2*time.Minute),
		VAPIDPublicKey:  r.String("VAPID_PUBLIC_KEY", ""),
		VAPIDPrivateKey: r.String("VAPID_PRIVATE_KEY", ""),
		VAPIDSubject:    r.String("VAPID_SUBJECT", "mailto:ops@pickmyclass.app"),
	}
	if err := asu.CheckContact(c.ASUContact); err != nil {
		r.Fail("ASU_CONTACT: %v", err)
	}
	if c.Name == "" {
		r.Fail("WORKER_NAME is required when the hostname is unknown")
	}
	if err := c.vapid().Check(); err != nil {
		r.Fail("%v", err)
	}
	if c.VisibilityTimeout <= c.ASUTimeout {
		r.Fail("WORKER_VISIBILITY_TIMEOUT (%s) must exceed ASU_TIMEOUT (%s), or live checks get reclaimed", c.VisibilityTimeout, c.ASUTimeout)
	}
	return c, r.Err()
}

// domain is the host of the public URL, used in Message-IDs.
func (c config) domain() string {
	u, err := url.Parse(c.PublicBaseURL)
	if err != nil || u.Hostname() == "" {
		return "pickmyclass.invalid"
	}
	return u.Hostname()
}

// vapid is the web push identity.
func (c config) vapid() channel.VAPID {
	return channel.VAPID{PublicKey: c.VAPIDPublicKey, PrivateKey: c.VAPIDPrivateKey, Subject: c.VAPIDSubject}
}
