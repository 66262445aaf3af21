package envconf

import (
	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

// Common is the configuration the api, the scheduler and the worker share,
// read under the same names with the same defaults and rules.
type Common struct {
	DatabaseURL string        // DATABASE_URL, postgres:// or postgresql://
	RedisURL    string        // REDIS_URL, redis:// or rediss://
	RedisPrefix string        // REDIS_PREFIX, default "pmc:"
	Migrate     bool          // MIGRATE_ON_START, default true
	Log         obs.LogConfig // LOG_LEVEL, LOG_FORMAT
}

// Common reads the shared configuration, recording every problem.
func (r *Reader) Common() Common {
	c := Common{
		DatabaseURL: r.URL("DATABASE_URL", "", "postgres", "postgresql"),
		RedisURL:    r.URL("REDIS_URL", "", "redis", "rediss"),
		RedisPrefix: r.String("REDIS_PREFIX", "pmc:"),
		Migrate:     r.Bool("MIGRATE_ON_START", true),
	}
	lc, err := obs.ParseLogConfig(r.getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Log = lc
	return c
}

// Secret returns a required secret of at least minLen characters, such as
// UNSUBSCRIBE_SECRET (the key of notify's signer).
func (r *Reader) Secret(name string, minLen int) string {
	v := r.Required(name)
	if v != "" && len(v) < minLen {
		r.Fail("%s must be at least %d characters", name, minLen)
	}
	return v
}
