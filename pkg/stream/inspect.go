package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned when a dead letter does not exist.
var ErrNotFound = errors.New("stream entry not found")

// Stats describes a stream and one of its consumer groups.
type Stats struct {
	// Length is the number of entries in the stream.
	Length int64
	// Pending is the number of entries delivered to the group and not yet
	// acknowledged.
	Pending int64
	// Lag is the number of entries not yet delivered to the group; -1 when
	// Redis cannot tell (after deletions in the middle of the stream).
	Lag int64
	// DeadLetters is the length of the dead-letter stream.
	DeadLetters int64
	// Delayed is the number of deferred entries waiting to be due, in the
	// default delayed set (stream+":delayed").
	Delayed int64
	// OldestPendingAge is how long ago the oldest pending entry was
	// appended; 0 when nothing is pending.
	OldestPendingAge time.Duration
}

// Inspect reports the state of stream, its consumer group and its
// dead-letter stream. A missing stream or group reports everything in the
// stream as lag.
func Inspect(ctx context.Context, rdb redis.UniversalClient, stream, group, deadLetter string) (Stats, error) {
	pipe := rdb.Pipeline()
	length := pipe.XLen(ctx, stream)
	dead := pipe.XLen(ctx, deadLetter)
	delayed := pipe.ZCard(ctx, stream+":delayed")
	groups := pipe.XInfoGroups(ctx, stream)
	_, _ = pipe.Exec(ctx) // errors are per command below
	var s Stats
	for _, c := range []*redis.IntCmd{length, dead, delayed} {
		if err := c.Err(); err != nil {
			return Stats{}, fmt.Errorf("stats of %s: %w", stream, err)
		}
	}
	s.Length, s.DeadLetters, s.Delayed = length.Val(), dead.Val(), delayed.Val()
	if err := groups.Err(); err != nil && !isNoKey(err) {
		return Stats{}, fmt.Errorf("stats of %s: groups: %w", stream, err)
	}
	s.Lag = s.Length
	for _, g := range groups.Val() {
		if g.Name != group {
			continue
		}
		s.Pending, s.Lag = g.Pending, g.Lag
		if g.Pending == 0 {
			break
		}
		p, err := rdb.XPending(ctx, stream, group).Result()
		if err != nil {
			return Stats{}, fmt.Errorf("stats of %s: pending: %w", stream, err)
		}
		if p.Count > 0 {
			t, err := idTime(p.Lower)
			if err != nil {
				return Stats{}, fmt.Errorf("stats of %s: %w", stream, err)
			}
			s.OldestPendingAge = max(time.Since(t), 0)
		}
		break
	}
	return s, nil
}

// collectTimeout bounds the Redis queries of one scrape.
const collectTimeout = 5 * time.Second

// collector exports Stats at scrape time, so the numbers are current and
// any replica of a service can serve them.
type collector struct {
	rdb                     redis.UniversalClient
	stream, group, dead     string
	length, pending, lag    *prometheus.Desc
	deadLetters, delayed    *prometheus.Desc
	oldestPendingAgeSeconds *prometheus.Desc
}

// NewCollector returns a Prometheus collector that queries the stream's
// Stats on every scrape. Its gauges carry the stream and group as labels,
// so collectors for several streams can share a registry.
func NewCollector(rdb redis.UniversalClient, stream, group, deadLetter string) prometheus.Collector {
	labels := prometheus.Labels{"stream": stream, "group": group}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, nil, labels)
	}
	return &collector{
		rdb: rdb, stream: stream, group: group, dead: deadLetter,
		length:                  desc("pickmyclass_stream_length", "Entries in the stream."),
		pending:                 desc("pickmyclass_stream_pending", "Entries delivered to the group and not yet acknowledged."),
		lag:                     desc("pickmyclass_stream_lag", "Entries not yet delivered to the group (-1 when unknown)."),
		deadLetters:             desc("pickmyclass_stream_dead_letters", "Entries in the dead-letter stream."),
		delayed:                 desc("pickmyclass_stream_delayed", "Deferred entries waiting to be due."),
		oldestPendingAgeSeconds: desc("pickmyclass_stream_oldest_pending_age_seconds", "Age of the oldest pending entry."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.length
	ch <- c.pending
	ch <- c.lag
	ch <- c.deadLetters
	ch <- c.delayed
	ch <- c.oldestPendingAgeSeconds
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	s, err := Inspect(ctx, c.rdb, c.stream, c.group, c.dead)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.length, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.length, float64(s.Length))
	gauge(c.pending, float64(s.Pending))
	gauge(c.lag, float64(s.Lag))
	gauge(c.deadLetters, float64(s.DeadLetters))
	gauge(c.delayed, float64(s.Delayed))
	gauge(c.oldestPendingAgeSeconds, s.OldestPendingAge.Seconds())
}

// DeadLetter is an entry of a dead-letter stream.
type DeadLetter struct {
	// ID is the dead letter's own ID in the dead-letter stream.
	ID string
	// Type, Data and Key are the original entry's.
	Type string
	Data []byte
	Key  string
	// EnqueuedAt is when the original entry was published.
	EnqueuedAt time.Time
	// Reason says why the entry failed.
	Reason string
	// Deliveries is the entry's delivery count when it was dead-lettered.
	Deliveries int64
	// OriginalID is the entry's ID in its stream.
	OriginalID string
	// FailedAt is when the entry was dead-lettered.
	FailedAt time.Time
}

// DeadLetters returns up to count dead letters, newest first.
func DeadLetters(ctx context.Context, rdb redis.UniversalClient, deadLetter string, count int64) ([]DeadLetter, error) {
	msgs, err := rdb.XRevRangeN(ctx, deadLetter, "+", "-", count).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", deadLetter, err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, parseDeadLetter(m))
	}
	return out, nil
}

// parseDeadLetter is lenient: a dead letter is shown even when the entry
// was malformed, which is often why it is there.
func parseDeadLetter(m redis.XMessage) DeadLetter {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	num := func(k string) int64 { n, _ := strconv.ParseInt(str(k), 10, 64); return n }
	d := DeadLetter{
		ID:         m.ID,
		Type:       str(fieldType),
		Data:       []byte(str(fieldData)),
		Key:        str(fieldKey),
		Reason:     str(fieldReason),
		Deliveries: num(fieldDeliveries),
		OriginalID: str(fieldOriginalID),
	}
	if ts := num(fieldTS); ts > 0 {
		d.EnqueuedAt = time.UnixMilli(ts)
	}
	if ts := num(fieldFailedAt); ts > 0 {
		d.FailedAt = time.UnixMilli(ts)
	}
	return d
}

// Replay appends the dead letter id back to stream as a fresh entry, with
// a fresh delivery budget, and removes it from the dead-letter stream, both
// in one transaction.
func Replay(ctx context.Context, rdb redis.UniversalClient, deadLetter, stream, id string) error {
	msgs, err := rdb.XRange(ctx, deadLetter, id, id).Result()
	if err != nil {
		return fmt.Errorf("replay %s from %s: %w", id, deadLetter, err)
	}
	if len(msgs) == 0 {
		return fmt.Errorf("replay %s from %s: %w", id, deadLetter, ErrNotFound)
	}
	values := make([]any, 0, 2*len(msgs[0].Values))
	for k, v := range msgs[0].Values {
		switch k {
		case fieldReason, fieldDeliveries, fieldOriginalID, fieldFailedAt, fieldPrior, fieldDeferredFrom:
		default:
			values = append(values, k, v)
		}
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
		p.XDel(ctx, deadLetter, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay %s from %s: %w", id, deadLetter, err)
	}
	return nil
}

// Discard deletes the dead letter id.
func Discard(ctx context.Context, rdb redis.UniversalClient, deadLetter, id string) error {
	n, err := rdb.XDel(ctx, deadLetter, id).Result()
	if err != nil {
		return fmt.Errorf("discard %s from %s: %w", id, deadLetter, err)
	}
	if n == 0 {
		return fmt.Errorf("discard %s from %s: %w", id, deadLetter, ErrNotFound)
	}
	return nil
}

// undeliveredPage bounds how many entries one XRANGE of Undelivered reads.
const undeliveredPage = 1000

// Undelivered returns the entries of stream that group has not read yet,
// oldest first: work that is queued and not started. It costs one round trip
// when the group has caught up, and reads at most limit entries (0 means
// all). Entries that do not parse are left out; the consumers dead-letter
// them. A missing group has read nothing; a missing stream holds nothing.
func Undelivered(ctx context.Context, rdb redis.UniversalClient, stream, group string, limit int) ([]*Entry, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if isNoKey(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("undelivered entries of %s: groups: %w", stream, err)
	}
	start := "-"
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		if g.Lag == 0 {
			return nil, nil
		}
		start = "(" + g.LastDeliveredID
	}
	var out []*Entry
	for limit <= 0 || len(out) < limit {
		count := int64(undeliveredPage)
		if limit > 0 {
			count = int64(min(undeliveredPage, limit-len(out)))
		}
		msgs, err := rdb.XRangeN(ctx, stream, start, "+", count).Result()
		if err != nil {
			return out, fmt.Errorf("undelivered entries of %s: %w", stream, err)
		}
		for _, m := range msgs {
			if e, err := parseEntry(m, 0); err == nil {
				out = append(out, e)
			}
		}
		if int64(len(msgs)) < count {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	return out, nil
}

// deferredScript returns the members of a delayed set from rank ARGV[1] to
// ARGV[2], each unpacked to its field/value list. KEYS: delayed set.
var deferredScript = redis.NewScript(`
local ms = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local out = {}
for i, m in ipairs(ms) do
  out[i] = cmsgpack.unpack(m)
end
return out
`)

// Deferred returns the entries waiting in a delayed set (see Defer) until
// they are due, soonest first, up to limit (0 means all). Like Undelivered
// it is work queued and not finished. Entries that do not parse are left
// out.
func Deferred(ctx context.Context, rdb redis.UniversalClient, delayedKey string, limit int) ([]*Entry, error) {
	var out []*Entry
	for start := 0; limit <= 0 || start < limit; start += undeliveredPage {
		stop := start + undeliveredPage - 1
		if limit > 0 {
			stop = min(stop, limit-1)
		}
		res, err := deferredScript.Run(ctx, rdb, []string{delayedKey}, start, stop).Slice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return out, fmt.Errorf("deferred entries of %s: %w", delayedKey, err)
		}
		for _, r := range res {
			fields, ok := r.([]any)
			if !ok || len(fields)%2 != 0 {
				continue
			}
			values := make(map[string]any, len(fields)/2)
			for i := 0; i < len(fields); i += 2 {
				k, _ := fields[i].(string)
				values[k] = fields[i+1]
			}
			if e, err := parseEntry(redis.XMessage{ID: "deferred", Values: values}, 0); err == nil {
				out = append(out, e)
			}
		}
		if len(res) < stop-start+1 {
			break
		}
	}
	return out, nil
}
