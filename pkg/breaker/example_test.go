package breaker_test

import (
	"context"
	"errors"
	"net/http"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
)

// A worker asks before each upstream request and reports after it; no lock
// is held in between.
func ExampleBreaker_Allow() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	b, err := breaker.New(rdb, breaker.Config{Name: "asu", Logger: zerolog.Nop()})
	if err != nil {
		panic(err)
	}

	done, err := b.Allow(ctx)
	var open *breaker.OpenError
	if errors.As(err, &open) {
		// Leave the check pending; retry after open.RetryIn.
		return
	}
	if err != nil {
		return
	}
	resp, err := http.Get("https://example.invalid/classes")
	switch {
	case err != nil || resp.StatusCode >= 500:
		done(breaker.Failure)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusTooManyRequests:
		done(breaker.Ignore)
	default:
		done(breaker.Success)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
}
