package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
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

// A lookup of a new watch's section or course costs a request from the
// politeness budget every worker shares, so the web app spends it
// sparingly: an answer is cached for a few minutes (a missing section or
// course for one), each user gets a few lookups a minute, and none goes out
// while the breaker is open.
const (
	lookupTTL         = 5 * time.Minute
	lookupMissingTTL  = time.Minute
	lookupMissing     = "-"
	defaultLookupRate = 10 // per user per minute
)

// errLookupMissing is a lookup's answer that the catalog has no such
// section or course.
var errLookupMissing = errors.New("not in the catalog")

// lookup returns what fetch finds, cached under name: from the cache the
// API instances share (unless fresh), or from the class search, charged to
// user uid's lookup budget and guarded by the shared breaker; a fresh
// answer refreshes the cache. fetch returns errLookupMissing, or an error
// of catalog.KindNotFound, when the catalog has nothing; lookup then
// returns errLookupMissing. Other failures are an *Error for the user.
func lookup[T any](ctx context.Context, a *app, uid int64, name string, fresh bool, fetch func(context.Context) (T, error)) (T, error) {
	var zero T
	cacheKey := a.Keys.Prefix + "lookup:" + name
	if v, err := a.Redis.Get(ctx, cacheKey).Result(); err == nil && !fresh {
		if v == lookupMissing {
			return zero, errLookupMissing
		}
		var out T
		if json.Unmarshal([]byte(v), &out) == nil {
			return out, nil
		}
		// An entry this version cannot read is looked up again.
	} else if err != nil && !errors.Is(err, redis.Nil) {
		return zero, err
	}

	if err := a.chargeLookup(ctx, uid); err != nil {
		return zero, err
	}
	done, err := a.Breaker.Allow(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return zero, err
		}
		e := errorf(http.StatusServiceUnavailable, "the university's class search is not answering; try again in a few minutes")
		var open *breaker.OpenError
		if errors.As(err, &open) {
			e.RetryAfter = int(open.RetryIn.Seconds()) + 1
		}
		return zero, e
	}
	out, err := fetch(ctx)
	switch {
	case err == nil:
		done(breaker.Success)
		if b, err := json.Marshal(out); err == nil {
			a.Redis.Set(ctx, cacheKey, b, lookupTTL)
		}
		return out, nil
	case errors.Is(err, errLookupMissing) || catalog.KindOf(err) == catalog.KindNotFound:
		done(breaker.Success)
		a.Redis.Set(ctx, cacheKey, lookupMissing, lookupMissingTTL)
		return zero, errLookupMissing
	case ctx.Err() != nil || catalog.KindOf(err) == catalog.KindRateLimited:
		// Neither says the class search is unwell.
		done(breaker.Ignore)
	default:
		done(breaker.Failure)
	}
	return zero, errorf(http.StatusBadGateway, "the university's class search is not answering; try again in a few minutes")
}

// sectionOf returns the section key as the catalog lists it, for user uid.
// It returns errLookupMissing when the catalog has no such section, or an
// *Error for the user.
func (a *app) sectionOf(ctx context.Context, uid int64, key catalog.SectionKey) (catalog.Section, error) {
	return lookup(ctx, a, uid, "section:"+key.Term+":"+key.ClassNbr, false, func(ctx context.Context) (catalog.Section, error) {
		return a.Catalog.Section(ctx, key)
	})
}

// courseSections returns every section of a course as the catalog lists
// them, for user uid; fresh skips the cache, for seat counts that must be
// current. It returns errLookupMissing when the course has no section in
// that term, or an *Error for the user.
func (a *app) courseSections(ctx context.Context, uid int64, key catalog.CourseKey, fresh bool) ([]catalog.Section, error) {
	return lookup(ctx, a, uid, courseLookupName(key), fresh, func(ctx context.Context) ([]catalog.Section, error) {
		secs, err := a.Catalog.Course(ctx, key)
		if err == nil && len(secs) == 0 {
			err = errLookupMissing
		}
		return secs, err
	})
}

// cachedCourse returns the sections of a course as a recent lookup left
// them in the cache, or nil: it never asks the class search.
func (a *app) cachedCourse(ctx context.Context, key catalog.CourseKey) []catalog.Section {
	v, err := a.Redis.Get(ctx, a.Keys.Prefix+"lookup:"+courseLookupName(key)).Bytes()
	if err != nil {
		return nil
	}
	var secs []catalog.Section
	if json.Unmarshal(v, &secs) != nil {
		return nil
	}
	return secs
}

// courseLookupName names a course's entry in the lookup cache.
func courseLookupName(key catalog.CourseKey) string {
	return "course:" + key.Term + ":" + key.Subject + ":" + key.CatalogNbr
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

// courseMissing is the field error for a course the catalog lacks.
func courseMissing(key catalog.CourseKey) error {
	return invalid(FieldError{Field: "catalog_nbr",
		Message: "No course " + key.Subject + " " + key.CatalogNbr + " in " + asu.TermName(key.Term) + ". Check the subject and number in the class search."})
}
