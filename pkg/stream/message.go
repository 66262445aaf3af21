package stream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// Field names of the stream entry envelope. They are part of the stored
// format: entries written by one release are read by the next.
const (
	fieldType = "type"
	fieldData = "data"
	fieldTS   = "ts"
	fieldKey  = "key"

	// fieldPrior carries the deliveries an entry used up before it was
	// deferred, so a defer does not reset its retry budget.
	fieldPrior = "prior_deliveries"
	// fieldDeferredFrom keeps deferred copies of otherwise identical entries
	// distinct members of the delayed set.
	fieldDeferredFrom = "deferred_from"

	fieldReason     = "reason"
	fieldDeliveries = "deliveries"
	fieldOriginalID = "original_id"
	fieldFailedAt   = "failed_at"
)

// ErrMalformed is wrapped by errors about entries that lack envelope fields.
var ErrMalformed = errors.New("malformed stream entry")

// ErrTypeMismatch is returned by Entry.Unmarshal when the entry holds a
// different message type than the one asked for.
var ErrTypeMismatch = errors.New("stream entry type mismatch")

// Message is one entry to publish.
type Message struct {
	// Type names what Data holds; for protobuf payloads the message's full
	// name (see Marshal).
	Type string
	// Data is the payload.
	Data []byte
	// Key is an optional idempotency key; PublishOnce requires it.
	Key string
}

// Marshal encodes m into a Message whose Type is m's protobuf full name.
func Marshal(m proto.Message, key string) (Message, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return Message{}, fmt.Errorf("marshal %s: %w", proto.MessageName(m), err)
	}
	return Message{Type: string(proto.MessageName(m)), Data: data, Key: key}, nil
}

// Entry is a delivered stream entry.
type Entry struct {
	// ID is the stream entry ID.
	ID string
	// Type, Data and Key are the published Message.
	Type string
	Data []byte
	Key  string
	// EnqueuedAt is when the entry was first published (a deferred entry
	// keeps its original time).
	EnqueuedAt time.Time
	// Deliveries counts how many times the entry has been handed to a
	// handler, this time included: Redis's delivery counter plus the
	// deliveries used before a Defer.
	Deliveries int64
}

// Unmarshal decodes the entry's data into m after checking that the entry
// holds m's type.
func (e *Entry) Unmarshal(m proto.Message) error {
	if want := string(proto.MessageName(m)); e.Type != want {
		return fmt.Errorf("unmarshal entry %s: holds %q, want %q: %w", e.ID, e.Type, want, ErrTypeMismatch)
	}
	if err := proto.Unmarshal(e.Data, m); err != nil {
		return fmt.Errorf("unmarshal entry %s: %w", e.ID, err)
	}
	return nil
}

// parseEntry builds an Entry from a stream message delivered deliveries
// times according to Redis.
func parseEntry(msg redis.XMessage, deliveries int64) (*Entry, error) {
	typ, ok := msg.Values[fieldType].(string)
	if !ok || typ == "" {
		return nil, fmt.Errorf("entry %s: missing %q field: %w", msg.ID, fieldType, ErrMalformed)
	}
	data, ok := msg.Values[fieldData].(string)
	if !ok {
		return nil, fmt.Errorf("entry %s: missing %q field: %w", msg.ID, fieldData, ErrMalformed)
	}
	tsRaw, _ := msg.Values[fieldTS].(string)
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("entry %s: bad %q field %q: %w", msg.ID, fieldTS, tsRaw, ErrMalformed)
	}
	key, _ := msg.Values[fieldKey].(string)
	if prior, ok := msg.Values[fieldPrior].(string); ok {
		n, err := strconv.ParseInt(prior, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("entry %s: bad %q field %q: %w", msg.ID, fieldPrior, prior, ErrMalformed)
		}
		deliveries += n
	}
	return &Entry{
		ID:         msg.ID,
		Type:       typ,
		Data:       []byte(data),
		Key:        key,
		EnqueuedAt: time.UnixMilli(ts),
		Deliveries: deliveries,
	}, nil
}

// streamID is a parsed stream entry ID, comparable in stream order.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, error) {
	msPart, seqPart, found := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("parse stream id %q: %w", s, err)
	}
	if !found {
		return streamID{ms: ms}, nil
	}
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("parse stream id %q: %w", s, err)
	}
	return streamID{ms: ms, seq: seq}, nil
}

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// idTime is the time encoded in an auto-generated stream ID.
func idTime(id string) (time.Time, error) {
	p, err := parseID(id)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(p.ms)), nil
}
