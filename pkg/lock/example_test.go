package lock_test

import (
	"context"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/lock"
)

// A scheduler instance runs its jobs only while it holds the lease; every
// instance runs the same code and Redis decides which one leads.
func ExampleLease_Run() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	lease := lock.New(rdb, "sched:leader", 15*time.Second)
	go func() { _ = lease.Run(ctx) }() // owned by an errgroup in real code

	s, err := gocron.NewScheduler(gocron.WithDistributedElector(lease))
	if err != nil {
		panic(err)
	}
	_, _ = s.NewJob(gocron.DurationJob(30*time.Minute), gocron.NewTask(func() { /* enqueue checks */ }))
	s.Start()
}
