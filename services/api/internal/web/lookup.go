package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// Breaker is the circuit breaker the workers share in front of the class
// search; the web app's lookups go through it too, and report to it.
type Breaker interface {
	Allow(ctx context.Context) (breaker.Done, error)
}

// A lookup of a new watch's section costs a request from the politeness
// budget every worker shares, so the web app spends it sparingly: a
// section's course is cached for a few minutes (a missing section for
// one), each user gets a few lookups a minute, and none goes out while the
// breaker is open.
const (
	lookupTTL         = 5 * time.Minute
	lookupMissingTTL  = time.Minute
	lookupMissing     = "-"
	defaultLookupRate = 10 // per user per minute
)

var errSectionMissing = errors.New("section not in the catalog")

// courseOf returns the course of the section key for user uid: from the
// cache, or from the class search. It returns errSectionMissing when the
// catalog has no such section, or an *Error for the user.
func (a *app) courseOf(ctx context.Context, uid int64, key catalog.SectionKey) (catalog.CourseKey, error) {
	cacheKey := a.Keys.Prefix + "lookup:" + key.Term + ":" + key.ClassNbr
	if v, err := a.Redis.Get(ctx, cacheKey).Result(); err == nil {
		if v == lookupMissing {
			return catalog.CourseKey{}, errSectionMissing
		}
		if subject, nbr, ok := strings.Cut(v, " "); ok {
			return catalog.CourseKey{Term: key.Term, Subject: subject, CatalogNbr: nbr}, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return catalog.CourseKey{}, err
	}

	if err := a.chargeLookup(ctx, uid); err != nil {
		return catalog.CourseKey{}, err
	}
	done, err := a.Breaker.Allow(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return catalog.CourseKey{}, err
		}
		e := errorf(http.StatusServiceUnavailable, "the university's class search is not answering; try again in a few minutes")
		var open *breaker.OpenError
		if errors.As(err, &open) {
			e.RetryAfter = int(open.RetryIn.Seconds()) + 1
		}
		return catalog.CourseKey{}, e
	}
	sec, err := a.Catalog.Section(ctx, key)
	switch {
	case err == nil:
		done(breaker.Success)
		a.Redis.Set(ctx, cacheKey, sec.Subject+" "+sec.CatalogNbr, lookupTTL)
		return sec.Course(), nil
	case catalog.KindOf(err) == catalog.KindNotFound:
		done(breaker.Success)
		a.Redis.Set(ctx, cacheKey, lookupMissing, lookupMissingTTL)
		return catalog.CourseKey{}, errSectionMissing
	case ctx.Err() != nil || catalog.KindOf(err) == catalog.KindRateLimited:
		// Neither says the class search is unwell.
		done(breaker.Ignore)
	default:
		done(breaker.Failure)
	}
	return catalog.CourseKey{}, errorf(http.StatusBadGateway, "the university's class search is not answering; try again in a few minutes")
}

// chargeLookup counts one class-search lookup against the user's budget
// (a fixed one-minute window in Redis, shared by every API instance).
func (a *app) chargeLookup(ctx context.Context, uid int64) error {
	now := a.Now()
	key := a.Keys.Prefix + "ratelimit:lookup:" + strconv.FormatInt(uid, 10) + ":" + strconv.FormatInt(now.Unix()/60, 10)
	n, err := a.Redis.Incr(ctx, key).Result()
	if err != nil {
		return err
	}
	if n == 1 {
		a.Redis.Expire(ctx, key, 2*time.Minute)
	}
	if n > int64(a.LookupsPerMinute) {
		e := errorf(http.StatusTooManyRequests, "You looked up many classes in a short time; wait a minute and try again.")
		e.RetryAfter = int(60 - now.Unix()%60)
		return e
	}
	return nil
}

// sectionMissing is the field error for a class number the catalog lacks.
func sectionMissing(key catalog.SectionKey) error {
	return invalid(FieldError{Field: "class_nbr",
		Message: "No class " + key.ClassNbr + " in " + asu.TermName(key.Term) + ". Check the number in the class search."})
}
