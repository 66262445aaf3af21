package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// publishChunk bounds how many XADDs go in one pipeline.
	publishChunk = 1000
	// onceChunk bounds how many messages one PublishOnce script call
	// handles; a script blocks Redis while it runs, so it stays small.
	onceChunk = 500
	// oncePipeline bounds how many script calls share one pipeline, which
	// bounds the client's buffers for very large enqueues.
	oncePipeline = 40
)

// ErrMissingKey is returned by PublishOnce for a message without a Key.
var ErrMissingKey = errors.New("message has no idempotency key")

// PublisherOptions tunes a Publisher.
type PublisherOptions struct {
	// MaxLen caps the stream approximately (XADD MAXLEN ~); 0 means no cap.
	// Consumers trim safely on their own, so a cap is only a backstop
	// against a stream nobody consumes, and must sit far above any backlog.
	MaxLen int64
}

// Publisher appends messages to one stream.
type Publisher struct {
	rdb    redis.UniversalClient
	stream string
	maxLen int64
	once   *redis.Script
}

// NewPublisher returns a Publisher appending to stream.
func NewPublisher(rdb redis.UniversalClient, stream string, opts PublisherOptions) *Publisher {
	return &Publisher{rdb: rdb, stream: stream, maxLen: max(opts.MaxLen, 0), once: publishOnceScript}
}

// Publish appends msgs in order and returns their entry IDs. On error the
// IDs of the messages appended before the failure are returned with it.
func (p *Publisher) Publish(ctx context.Context, msgs ...Message) ([]string, error) {
	ids := make([]string, 0, len(msgs))
	ts := time.Now().UnixMilli()
	cmds := make([]*redis.StringCmd, 0, min(len(msgs), publishChunk))
	for start := 0; start < len(msgs); start += publishChunk {
		chunk := msgs[start:min(start+publishChunk, len(msgs))]
		cmds = cmds[:0]
		pipe := p.rdb.Pipeline()
		for _, m := range chunk {
			cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{
				Stream: p.stream,
				MaxLen: p.maxLen,
				Approx: p.maxLen > 0,
				Values: envelope(m, ts),
			}))
		}
		_, err := pipe.Exec(ctx)
		for _, c := range cmds {
			if c.Err() != nil {
				break
			}
			ids = append(ids, c.Val())
		}
		if err != nil {
			return ids, fmt.Errorf("publish to %s: %w", p.stream, err)
		}
	}
	return ids, nil
}

// PublishOnce appends every message whose Key has not been published under
// dedupKey within ttl, and reports how many it appended. Publishers racing
// with the same keys append each key once. The keys are remembered in the
// hash dedupKey, whose expiry is reset to ttl on every call; pick a ttl
// longer than the window in which duplicates can arrive (e.g. a cycle).
func (p *Publisher) PublishOnce(ctx context.Context, dedupKey string, ttl time.Duration, msgs ...Message) (int, error) {
	if ttl < time.Millisecond {
		return 0, fmt.Errorf("publish once to %s: ttl %s is under 1ms", p.stream, ttl)
	}
	for i, m := range msgs {
		if m.Key == "" {
			return 0, fmt.Errorf("publish once to %s: message %d: %w", p.stream, i, ErrMissingKey)
		}
	}
	keys := []string{p.stream, dedupKey}
	head := []any{ttl.Milliseconds(), p.maxLen, time.Now().UnixMilli()}
	// Every call's arguments are kept so the calls that found the script
	// missing from the server cache can be repeated; a repeat is safe
	// because the script itself de-duplicates.
	var calls [][]any
	for start := 0; start < len(msgs); start += onceChunk {
		chunk := msgs[start:min(start+onceChunk, len(msgs))]
		args := make([]any, 0, len(head)+3*len(chunk))
		args = append(args, head...)
		for _, m := range chunk {
			args = append(args, m.Key, m.Type, m.Data)
		}
		calls = append(calls, args)
	}

	published := 0
	for start := 0; start < len(calls); start += oncePipeline {
		batch := calls[start:min(start+oncePipeline, len(calls))]
		n, missing, err := p.runOnce(ctx, keys, batch)
		published += n
		if err != nil {
			return published, err
		}
		if len(missing) == 0 {
			continue
		}
		if err := p.once.Load(ctx, p.rdb).Err(); err != nil {
			return published, fmt.Errorf("publish once to %s: load script: %w", p.stream, err)
		}
		n, missing, err = p.runOnce(ctx, keys, missing)
		published += n
		if err != nil {
			return published, err
		}
		if len(missing) > 0 {
			return published, fmt.Errorf("publish once to %s: script still missing after load", p.stream)
		}
	}
	return published, nil
}

// MarkOnce records keys under dedupKey as PublishOnce does, without
// appending anything: a later PublishOnce with the same dedupKey skips them.
// It is for work the caller decided is already covered.
func (p *Publisher) MarkOnce(ctx context.Context, dedupKey string, ttl time.Duration, keys ...string) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("mark once in %s: ttl %s is under 1ms", dedupKey, ttl)
	}
	if len(keys) == 0 {
		return nil
	}
	pipe := p.rdb.Pipeline()
	for start := 0; start < len(keys); start += publishChunk {
		chunk := keys[start:min(start+publishChunk, len(keys))]
		fields := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			fields = append(fields, k, "1")
		}
		pipe.HSet(ctx, dedupKey, fields...)
	}
	pipe.PExpire(ctx, dedupKey, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("mark once in %s: %w", dedupKey, err)
	}
	return nil
}

// runOnce pipelines one script call per element of calls. It returns how
// many messages were appended and the calls that failed with NOSCRIPT.
func (p *Publisher) runOnce(ctx context.Context, keys []string, calls [][]any) (int, [][]any, error) {
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, args := range calls {
		cmds[i] = p.once.EvalSha(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx) // errors are per command below
	var (
		n        int
		missing  [][]any
		firstErr error
	)
	for i, c := range cmds {
		v, err := c.Int()
		switch {
		case err == nil:
			n += v
		case redis.HasErrorPrefix(err, "NOSCRIPT"):
			missing = append(missing, calls[i])
		case firstErr == nil:
			firstErr = fmt.Errorf("publish once to %s: %w", p.stream, err)
		}
	}
	return n, missing, firstErr
}

func envelope(m Message, ts int64) []any {
	v := make([]any, 0, 8)
	v = append(v, fieldType, m.Type, fieldData, m.Data, fieldTS, strconv.FormatInt(ts, 10))
	if m.Key != "" {
		v = append(v, fieldKey, m.Key)
	}
	return v
}
