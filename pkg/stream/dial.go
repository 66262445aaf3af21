package stream

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Dial connects to the Redis at url (redis:// or rediss:// for TLS, as
// redis.ParseURL reads them) and checks it answers before ctx ends. Timeouts
// the URL leaves unset get defaults suited to the consumer: blocking reads
// get their own longer deadline from go-redis.
func Dial(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// url.Error quotes the URL, password included; keep only its cause.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("dial redis: parse url: %w", err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 3 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 3 * time.Second
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = 5 * time.Second
	}
	if opts.ConnMaxIdleTime == 0 {
		opts.ConnMaxIdleTime = 5 * time.Minute
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("dial redis %s: %w", opts.Addr, err)
	}
	return rdb, nil
}
