// Package testenv gives tests the real services they run against: a Redis
// and a PostgreSQL server. It reads TEST_REDIS_URL and TEST_DATABASE_URL;
// when one is unset it starts the service with testcontainers-go if a Docker
// engine answers, and otherwise skips the test — except under CI=true (or
// REQUIRE_SERVICES=1), where a missing service fails the test, so CI can
// never pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

var (
	dockerOnce sync.Once
	dockerErr  error

	containerMu sync.Mutex
	containers  = map[string]string{} // service → URL of a container started by this process
)

func dockerAvailable() error {
	dockerOnce.Do(func() {
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			dockerErr = err
			return
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dockerErr = p.Health(ctx)
	})
	return dockerErr
}

// Required reports whether a missing service must fail the test rather than
// skip it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("REQUIRE_SERVICES") == "1"
}

func unavailable(t testing.TB, env string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is not set and no Docker engine answers (%v); CI requires real services", env, err)
	}
	t.Skipf("%s is not set and no Docker engine answers (%v); skipping", env, err)
}

// RedisURL returns the URL of a Redis server for tests.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return containerURL(t, "TEST_REDIS_URL", func(ctx context.Context) (string, error) {
		c, err := tcredis.Run(ctx, "redis:7-alpine")
		if err != nil {
			return "", err
		}
		return c.ConnectionString(ctx)
	})
}

// DatabaseURL returns the URL of a PostgreSQL database for tests. Tests that
// need a database of their own use store/storetest, which creates one on
// this server.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return containerURL(t, "TEST_DATABASE_URL", func(ctx context.Context) (string, error) {
		c, err := tcpostgres.Run(ctx, "postgres:15-alpine",
			tcpostgres.WithDatabase("test"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
			tcpostgres.BasicWaitStrategies())
		if err != nil {
			return "", err
		}
		return c.ConnectionString(ctx, "sslmode=disable")
	})
}

// containerURL starts one container per service per test process; it is left
// to testcontainers' reaper to remove when the process ends.
func containerURL(t testing.TB, env string, start func(context.Context) (string, error)) string {
	t.Helper()
	containerMu.Lock()
	defer containerMu.Unlock()
	if u, ok := containers[env]; ok {
		return u
	}
	if err := dockerAvailable(); err != nil {
		unavailable(t, env, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, err := start(ctx)
	if err != nil {
		t.Fatalf("start container for %s: %v", env, err)
	}
	containers[env] = u
	return u
}

// Redis returns a client for the test Redis and a key prefix unique to this
// test. Every key the test creates must start with the prefix; they are
// deleted when the test ends. The server is never flushed: other packages'
// tests share it.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("parse TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	prefix := "t:" + RandomID() + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if Required() {
			t.Fatalf("redis at TEST_REDIS_URL: %v", err)
		}
		t.Skipf("redis at TEST_REDIS_URL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// RandomID returns 12 random hex characters.
func RandomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Eventually polls cond every 10 ms until it returns nil or timeout passes,
// then fails the test with cond's last error. It is how tests wait for
// asynchronous work, instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// ErrNotYet is a convenience for Eventually conditions.
var ErrNotYet = errors.New("not yet")

// Context returns a context cancelled when the test ends or after timeout.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}
