package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// noopPayload is about the size of a marshalled course check.
var noopPayload = []byte("\n\x042271\x12\x03CSE\x1a\x03110\"\x0512345\"\x0512346*\x142027-01-01T10:00:00Z:\x03asu")

// concurrency is the handler concurrency of every contender, the worker's
// default.
const concurrency = 32

// queueResult is one contender's enqueue and processing rates.
type queueResult struct {
	name               string
	messages           int
	enqueue, process   float64 // messages per second
	enqueueD, processD time.Duration
}

// benchStreamCore publishes n no-op messages through pkg/stream and drains
// them with a Consumer at the worker's concurrency: consumer group, ack,
// reclaim and dead-letter bookkeeping as in production.
func (e *env) benchStreamCore(ctx context.Context, n int) (queueResult, error) {
	res := queueResult{name: "pkg/stream", messages: n}
	prefix := "bench:" + randomID() + ":"
	defer e.deletePrefix(prefix)
	name := prefix + "core"
	pub := stream.NewPublisher(e.rdb, name, stream.PublisherOptions{})
	msgs := make([]stream.Message, 0, 1000)
	start := time.Now()
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; len(msgs) < cap(msgs) && i < n; i++ {
			msgs = append(msgs, stream.Message{Type: "bench.Noop", Data: noopPayload, Key: strconv.Itoa(i)})
		}
		if _, err := pub.Publish(ctx, msgs...); err != nil {
			return res, err
		}
	}
	res.enqueueD = time.Since(start)

	c, err := stream.NewConsumer(e.rdb, stream.Config{
		Stream: name, Group: "bench", Consumer: "c1", Concurrency: concurrency,
		VisibilityTimeout: time.Minute, MaxDeliveries: 3, Logger: zerolog.Nop(),
	})
	if err != nil {
		return res, err
	}
	var handled atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		done <- c.Run(runCtx, func(context.Context, *stream.Entry) error {
			handled.Add(1)
			return nil
		})
	}()
	err = poll(ctx, 5*time.Minute, time.Millisecond, func() (bool, error) {
		if handled.Load() < int64(n) {
			return false, nil
		}
		p, err := e.rdb.XPending(ctx, name, "bench").Result()
		return err == nil && p.Count == 0, err
	})
	res.processD = time.Since(start)
	cancel()
	if rerr := <-done; err == nil {
		err = rerr
	}
	res.enqueue, res.process = float64(n)/res.enqueueD.Seconds(), float64(n)/res.processD.Seconds()
	return res, err
}

// benchBare is the ceiling of Redis Streams: pipelined XADD in batches of
// 100, then one loop of XREADGROUP COUNT 100 with the previous batch's
// multi-ID XACK in the same round trip, and no handler at all.
func (e *env) benchBare(ctx context.Context, n int) (queueResult, error) {
	res := queueResult{name: "bare go-redis loop", messages: n}
	prefix := "bench:" + randomID() + ":"
	defer e.deletePrefix(prefix)
	name := prefix + "bare"
	start := time.Now()
	for i := 0; i < n; {
		pipe := e.rdb.Pipeline()
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: name, Values: []any{"type", "bench.Noop", "data", noopPayload}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return res, err
		}
	}
	res.enqueueD = time.Since(start)
	if err := e.rdb.XGroupCreate(ctx, name, "bench", "0").Err(); err != nil {
		return res, err
	}
	start = time.Now()
	var acks []string
	for got := 0; got < n; {
		pipe := e.rdb.Pipeline()
		if len(acks) > 0 {
			pipe.XAck(ctx, name, "bench", acks...)
		}
		read := pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "bench", Consumer: "c1", Streams: []string{name, ">"}, Count: 100, Block: -1,
		})
		if _, err := pipe.Exec(ctx); err != nil {
			return res, err
		}
		acks = acks[:0]
		for _, m := range read.Val()[0].Messages {
			acks = append(acks, m.ID)
		}
		got += len(acks)
	}
	if err := e.rdb.XAck(ctx, name, "bench", acks...).Err(); err != nil {
		return res, err
	}
	res.processD = time.Since(start)
	res.enqueue, res.process = float64(n)/res.enqueueD.Seconds(), float64(n)/res.processD.Seconds()
	return res, nil
}

// benchAsynq enqueues n no-op tasks with asynq (one Enqueue per task, from
// concurrency goroutines — asynq has no batch enqueue) and processes them
// with an asynq.Server of the same concurrency.
func (e *env) benchAsynq(ctx context.Context, n int) (queueResult, error) {
	res := queueResult{name: "asynq v0.26.0", messages: n}
	opt, err := asynq.ParseRedisURI(e.redisURL)
	if err != nil {
		return res, err
	}
	queue := "bench-" + randomID()
	defer func() {
		e.deletePrefix("asynq:{" + queue + "}")
		e.rdb.SRem(context.Background(), "asynq:queues", queue)
	}()
	client := asynq.NewClient(opt)
	defer client.Close()

	start := time.Now()
	var g sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, concurrency)
	for range concurrency {
		g.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench:noop", noopPayload), asynq.Queue(queue), asynq.MaxRetry(2)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	g.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, fmt.Errorf("asynq enqueue: %w", err)
	}
	res.enqueueD = time.Since(start)

	var handled atomic.Int64
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{queue: 1},
		Logger: silentLogger{}, LogLevel: asynq.FatalLevel, ShutdownTimeout: 5 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error {
		handled.Add(1)
		return nil
	})
	start = time.Now()
	if err := srv.Start(mux); err != nil {
		return res, err
	}
	err = poll(ctx, 5*time.Minute, time.Millisecond, func() (bool, error) { return handled.Load() >= int64(n), nil })
	res.processD = time.Since(start)
	srv.Shutdown()
	res.enqueue, res.process = float64(n)/res.enqueueD.Seconds(), float64(n)/res.processD.Seconds()
	return res, err
}

// silentLogger drops asynq's logs.
type silentLogger struct{}

func (silentLogger) Debug(...any) {}
func (silentLogger) Info(...any)  {}
func (silentLogger) Warn(...any)  {}
func (silentLogger) Error(...any) {}
func (silentLogger) Fatal(...any) {}
