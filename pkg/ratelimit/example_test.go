package ratelimit_test

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/ratelimit"
)

// Every worker builds the same bucket for a university and waits on it
// before each request, so together they stay within its budget.
func ExampleBucket_Wait() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	asu := ratelimit.New(rdb, "ratelimit:asu", 3, 3) // 3 requests/s across all workers
	if err := asu.Wait(ctx); err != nil {
		return // ctx ended
	}
	// make the request
}
