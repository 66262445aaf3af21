package stream

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// benchPayload is about the size of a marshalled CheckCourse.
var benchPayload = []byte("\n\x042261\x12\x03CSE\x1a\x03110\"\x0512345\"\x0512346*\x142026-11-29T10:00:00Z:\x03asu")

// benchPublish appends n entries outside the timer.
func benchPublish(b *testing.B, rdb *redis.Client, stream string, n int) {
	b.Helper()
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Type: "pickmyclass.stream.v1.CheckCourse", Data: benchPayload, Key: strconv.Itoa(i)}
	}
	if _, err := NewPublisher(rdb, stream, PublisherOptions{}).Publish(context.Background(), msgs...); err != nil {
		b.Fatalf("Publish: %v", err)
	}
}

// BenchmarkPublishOnce enqueues 100,000 messages idempotently per op.
func BenchmarkPublishOnce(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	ctx := context.Background()
	const n = 100_000
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Type: "pickmyclass.stream.v1.CheckCourse", Data: benchPayload, Key: "asu:2261:CSE:" + strconv.Itoa(i)}
	}
	b.ResetTimer()
	for i := range b.N {
		stream, dedup := prefix+"once:"+strconv.Itoa(i), prefix+"dedup:"+strconv.Itoa(i)
		got, err := NewPublisher(rdb, stream, PublisherOptions{}).PublishOnce(ctx, dedup, time.Hour, msgs...)
		if err != nil || got != n {
			b.Fatalf("PublishOnce = %d, %v; want %d", got, err, n)
		}
		b.StopTimer()
		if err := rdb.Del(ctx, stream, dedup).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

var benchRound atomic.Int64

// BenchmarkConsume drains b.N entries through a Consumer with a no-op
// handler; acks are flushed before the clock stops.
func BenchmarkConsume(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	stream := prefix + "consume:" + strconv.FormatInt(benchRound.Add(1), 10)
	benchPublish(b, rdb, stream, b.N)
	c, err := NewConsumer(rdb, Config{Stream: stream, Group: "bench", Consumer: "c1", Block: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all := make(chan struct{})
	h := func(ctx context.Context, e *Entry) error {
		if handled.Add(1) == int64(b.N) {
			close(all)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)

	b.ResetTimer()
	go func() { done <- c.Run(ctx, h) }()
	<-all
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	if p, err := rdb.XPending(context.Background(), stream, "bench").Result(); err != nil || p.Count != 0 {
		b.Fatalf("pending after run = %v (err %v), want 0", p, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBareLoop is the yardstick for BenchmarkConsume: XREADGROUP
// COUNT 100 with the previous batch's XACK in the same pipeline, and no
// handler at all.
func BenchmarkBareLoop(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	ctx := context.Background()
	stream := prefix + "bare:" + strconv.FormatInt(benchRound.Add(1), 10)
	benchPublish(b, rdb, stream, b.N)
	if err := rdb.XGroupCreate(ctx, stream, "bench", "0").Err(); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var acks []string
	for got := 0; got < b.N; {
		pipe := rdb.Pipeline()
		if len(acks) > 0 {
			pipe.XAck(ctx, stream, "bench", acks...)
		}
		read := pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "bench", Consumer: "c1", Streams: []string{stream, ">"}, Count: 100, Block: -1,
		})
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		acks = acks[:0]
		for _, m := range read.Val()[0].Messages {
			acks = append(acks, m.ID)
		}
		got += len(acks)
	}
	if err := rdb.XAck(ctx, stream, "bench", acks...).Err(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func ExampleConsumer_Run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, err := Dial(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rdb.Close()
	c, err := NewConsumer(rdb, Config{Stream: "checks", Group: "workers", Consumer: "worker-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Run returns after ctx ends and in-flight handlers finish.
	err = c.Run(ctx, func(ctx context.Context, e *Entry) error {
		switch e.Type {
		case "pickmyclass.stream.v1.CheckCourse":
			return nil // check the course; a plain error retries it
		default:
			return Permanent(fmt.Errorf("unknown entry type %q", e.Type))
		}
	})
	if err != nil {
		fmt.Println(err)
	}
}
