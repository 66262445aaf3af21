// Package dispatch sends the channel deliveries that the check pipeline
// claimed — web push, Discord, Slack, ntfy and webhooks — apart from email
// and from each other: deliveries are sent concurrently, each within its
// claim's lease, so a channel that hangs or fails delays nothing else. A
// temporary failure releases the claim with back-off (never sooner than
// the server's Retry-After); a permanent one fails it, disables the channel
// and emails its owner. A delivery is marked sent as soon as its receiver
// accepted it and is never sent again.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/ratelimit"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// Store is the channel-claims part of the database.
type Store interface {
	ClaimDeliveries(ctx context.Context, lease time.Duration, limit, perChannel int) ([]store.Delivery, error)
	MarkDeliverySent(ctx context.Context, id int64) error
	ReleaseDelivery(ctx context.Context, d store.Delivery, sendErr string, retryAfter time.Duration) error
	DeferDelivery(ctx context.Context, id int64, wait time.Duration) error
	FailDelivery(ctx context.Context, d store.Delivery, sendErr string, disable bool, reason string) (bool, error)
	ClaimDisabledNotices(ctx context.Context, limit int) ([]store.DisabledChannel, error)
	UnclaimDisabledNotice(ctx context.Context, id int64) error
}

// Sender sends one message to one channel; *channel.Client satisfies it.
type Sender interface {
	Send(ctx context.Context, ch channel.Channel, m channel.Message) error
}

// Limiter paces the sends to one channel. ok is false when the channel must
// wait; wait says how long.
type Limiter interface {
	Take(ctx context.Context, channelID int64) (ok bool, wait time.Duration, err error)
}

// Dispatcher sends claimed channel deliveries.
type Dispatcher struct {
	Store   Store
	Sender  Sender
	Limiter Limiter
	// Mail tells owners that a channel was disabled.
	Mail    notify.Sender
	BaseURL string // public URL of the web app, for links
	// Lease is how long a claim is ours while we send it.
	Lease time.Duration
	// Concurrency bounds the sends in flight.
	Concurrency int
	// PerChannel bounds one channel's deliveries in one claim, so one
	// channel with many alerts cannot fill a batch.
	PerChannel int
	Now        func() time.Time
	Metrics    *Metrics

	kickOnce sync.Once
	kick     chan struct{}
}

// Metrics are the dispatcher's Prometheus metrics.
type Metrics struct {
	sends *prometheus.CounterVec
}

// NewMetrics registers the dispatcher's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{sends: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_channel_sends_total",
		Help: "Channel alert sends, by channel kind and outcome (sent, retry, permanent, gone, deferred).",
	}, []string{"kind", "outcome"})}
	reg.MustRegister(m.sends)
	return m
}

func (d *Dispatcher) kicks() chan struct{} {
	d.kickOnce.Do(func() { d.kick = make(chan struct{}, 1) })
	return d.kick
}

// Kick wakes the dispatcher: new deliveries were claimed. It never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kicks() <- struct{}{}:
	default:
	}
}

// Run sends due deliveries whenever kicked and every interval, until ctx
// ends. Sends in flight when ctx ends are given up and their claims
// released.
func (d *Dispatcher) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	kick := d.kicks()
	for {
		if _, err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("channel deliveries")
		}
		if err := d.Notices(ctx); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("disabled channel notices")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-kick:
		}
	}
}

// batch is how many deliveries one claim takes.
const batch = 200

// Drain sends due deliveries until none is left or ctx ends, and returns
// how many it sent. A failed send is released or failed and logged; it
// does not stop the others. The next batch is claimed as soon as the last
// send of the current one has started, so a slow send holds one slot, not
// the batch behind it.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	sem := make(chan struct{}, max(1, d.Concurrency))
	var wg sync.WaitGroup
	var sent atomic.Int64
	defer wg.Wait()
	for ctx.Err() == nil {
		claimed := d.Now()
		ds, err := d.Store.ClaimDeliveries(ctx, d.Lease, batch, max(1, d.PerChannel))
		if err != nil {
			wg.Wait()
			return int(sent.Load()), fmt.Errorf("claim deliveries: %w", err)
		}
		if len(ds) == 0 {
			break
		}
		d.send(ctx, claimed, ds, sem, &wg, &sent)
	}
	wg.Wait()
	return int(sent.Load()), nil
}

// send starts sending ds, claimed at claimed, each send holding a slot of
// sem, and returns once the last has started. Every send must finish while
// its claim is ours: once the lease lapses another worker may claim and send
// the same delivery, so a send not done when a quarter of the lease is left
// gives up and releases its claim.
func (d *Dispatcher) send(ctx context.Context, claimed time.Time, ds []store.Delivery, sem chan struct{}, wg *sync.WaitGroup, sent *atomic.Int64) {
	ctx, cancel := context.WithDeadline(ctx, claimed.Add(d.Lease-d.Lease/4))
	var batchWG sync.WaitGroup
	for _, dl := range ds {
		sem <- struct{}{}
		batchWG.Add(1)
		go func() {
			defer func() { <-sem; batchWG.Done() }()
			ok, err := d.sendOne(ctx, dl)
			if ok {
				sent.Add(1)
			}
			if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Int64("delivery_id", dl.ID).Msg("channel alert not sent; it will be retried")
			}
		}()
	}
	// The batch's deadline is released once all its sends are done.
	wg.Add(1)
	go func() {
		defer wg.Done()
		batchWG.Wait()
		cancel()
	}()
}

func (d *Dispatcher) count(k channel.Kind, outcome string) {
	if d.Metrics != nil {
		d.Metrics.sends.WithLabelValues(string(k), outcome).Inc()
	}
}

// sendOne sends one delivery and records the outcome. It reports whether
// the delivery was sent.
func (d *Dispatcher) sendOne(ctx context.Context, dl store.Delivery) (bool, error) {
	log := zerolog.Ctx(ctx).With().Int64("delivery_id", dl.ID).Int64("channel_id", dl.ChannelID).
		Str("kind", string(dl.Channel.Kind)).Str("section", dl.Section.Key().String()).Logger()
	// Recording an outcome must survive our own shutdown: a send that was
	// accepted is recorded, a send given up is released.
	rec := context.WithoutCancel(ctx)
	if d.Limiter != nil {
		ok, wait, err := d.Limiter.Take(ctx, dl.ChannelID)
		if err != nil {
			log.Warn().Err(err).Msg("channel rate limit unavailable; sending anyway")
		} else if !ok {
			d.count(dl.Channel.Kind, "deferred")
			return false, d.Store.DeferDelivery(rec, dl.ID, wait)
		}
	}
	err := d.Sender.Send(ctx, dl.Channel, d.message(dl))
	if err == nil {
		d.count(dl.Channel.Kind, "sent")
		if err := d.Store.MarkDeliverySent(rec, dl.ID); err != nil {
			return true, fmt.Errorf("record sent delivery %d: %w", dl.ID, err)
		}
		log.Info().Msg("channel alert sent")
		return true, nil
	}
	class, retryAfter := channel.Classify(err)
	if class == channel.Retry || ctx.Err() != nil {
		d.count(dl.Channel.Kind, "retry")
		if rerr := d.Store.ReleaseDelivery(rec, dl, err.Error(), retryAfter); rerr != nil {
			return false, errors.Join(err, rerr)
		}
		return false, fmt.Errorf("send delivery %d: %w", dl.ID, err)
	}
	d.count(dl.Channel.Kind, class.String())
	disabled, ferr := d.Store.FailDelivery(rec, dl, err.Error(), true, Reason(dl.Channel.Kind, err))
	if ferr != nil {
		return false, errors.Join(err, ferr)
	}
	if disabled {
		log.Warn().Err(err).Msg("channel disabled after a permanent failure")
		d.Kick() // the owner's notice goes out on the next round
	}
	return false, nil
}

// message builds the alert of a delivery: for a course or linked watch it
// names every section of the alert, each with its enroll link.
func (d *Dispatcher) message(dl store.Delivery) channel.Message {
	s := dl.Section
	w := channel.Watch{Kind: dl.Watch.Kind, Filter: dl.Watch.Filter, Sections: dl.Watch.Sections}
	for _, sec := range dl.Watch.Sections {
		w.URLs = append(w.URLs, d.enrollURL(sec))
	}
	return channel.WatchAlert(dl.IdempotencyKey(), dl.Event, s, w, asu.TermName(s.Term), dl.OpenSeats, d.enrollURL(s), d.Now())
}

// enrollURL is the link to the university's page of s, through the web
// app's redirect.
func (d *Dispatcher) enrollURL(s catalog.Section) string {
	return d.BaseURL + "/go/asu?" + url.Values{"term": {s.Term}, "classNbr": {s.ClassNbr}}.Encode()
}

// Reason is what the owner is told about a channel disabled by err.
func Reason(k channel.Kind, err error) string {
	var e *channel.Error
	status := 0
	if errors.As(err, &e) {
		status = e.Status
		if e.Class == channel.Gone {
			return "The browser's push subscription expired or was withdrawn. Subscribe again from that browser to get push alerts."
		}
	}
	switch {
	case errors.Is(err, channel.ErrForbiddenAddress):
		return "Its address now leads to a private or local network, where alerts are never sent."
	case status == 404 || status == 410:
		return fmt.Sprintf("%s answered that the address no longer exists (HTTP %d). It may have been deleted.", k.Label(), status)
	case status == 401 || status == 403:
		return fmt.Sprintf("%s refused the alert (HTTP %d). Check its access token or permissions.", k.Label(), status)
	case status >= 300 && status < 400:
		return fmt.Sprintf("The address redirects elsewhere (HTTP %d); alerts only go to the address you saved.", status)
	case status != 0:
		return fmt.Sprintf("%s rejected the alert (HTTP %d).", k.Label(), status)
	}
	return fmt.Sprintf("%s could not take alerts: %v", k.Label(), err)
}

// noticeBatch is how many disabled-channel notices one round sends.
const noticeBatch = 20

// Notices emails the owners of newly disabled channels. A notice whose
// email fails is handed back for the next round.
func (d *Dispatcher) Notices(ctx context.Context) error {
	if d.Mail == nil {
		return nil
	}
	cs, err := d.Store.ClaimDisabledNotices(ctx, noticeBatch)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if err := d.Mail.Send(ctx, d.notice(c)); err != nil {
			if !errors.Is(err, notify.ErrPermanent) {
				if uerr := d.Store.UnclaimDisabledNotice(context.WithoutCancel(ctx), c.ID); uerr != nil {
					errs = append(errs, uerr)
				}
			}
			errs = append(errs, fmt.Errorf("notice for channel %d: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Dispatcher) notice(c store.DisabledChannel) notify.Email {
	name := c.Kind.Label()
	if c.Label != "" {
		name += " (" + c.Label + ")"
	}
	settings := d.BaseURL + "/settings#channels"
	text := strings.Join([]string{
		"Your " + name + " alert channel was turned off and gets no more seat alerts.",
		"",
		"Why: " + c.Reason,
		"",
		"Your email alerts and other channels are not affected. To fix or remove this channel, open your settings:",
		settings,
	}, "\n")
	htmlBody := "<p>Your <strong>" + html.EscapeString(name) + "</strong> alert channel was turned off and gets no more seat alerts.</p>" +
		"<p>Why: " + html.EscapeString(c.Reason) + "</p>" +
		"<p>Your email alerts and other channels are not affected. To fix or remove this channel, open your " +
		`<a href="` + html.EscapeString(settings) + `">settings</a>.</p>`
	return notify.Email{
		To:        c.Email,
		Subject:   "Your " + c.Kind.Label() + " alerts were turned off",
		Text:      text,
		HTML:      htmlBody,
		MessageID: fmt.Sprintf("pmc-channel-%d-disabled", c.ID),
	}
}

// RedisLimiter is a token bucket per channel, shared by every worker
// through Redis.
type RedisLimiter struct {
	RDB    redis.UniversalClient
	Prefix string // key prefix; the channel id is appended
	Rate   float64
	Burst  int
}

// Take takes one token from the channel's bucket.
func (l RedisLimiter) Take(ctx context.Context, channelID int64) (bool, time.Duration, error) {
	return ratelimit.New(l.RDB, l.Prefix+strconv.FormatInt(channelID, 10), l.Rate, l.Burst).Take(ctx)
}
