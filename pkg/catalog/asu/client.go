// Package asu is the catalog.Source for Arizona State University's public
// class search JSON API (the API behind catalog.apps.asu.edu). Requests are
// made with colly; every one waits on a shared politeness budget first, is
// bounded by a timeout and the caller's context, and fails with a classified
// *catalog.Error so workers can decide between retrying, backing off and
// tripping the breaker.
package asu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gocolly/colly/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// Defaults for Config.
const (
	DefaultBaseURL  = "https://eadvs-cscc-catalog-api.apps.asu.edu/catalog-microservices/api/v1/search"
	DefaultContact  = "ops@pickmyclass.app"
	DefaultTimeout  = 10 * time.Second
	DefaultMaxPages = 20
)

// UserAgent is the one identity every PickMyClass service presents to the
// university: the product, its site, what it does, and how to reach the
// operator of this deployment (an email address or URL) if its traffic ever
// needs a word.
func UserAgent(contact string) string {
	return "PickMyClass/1.0 (+https://pickmyclass.app; seat alerts; contact: " + contact + ")"
}

// CheckContact reports why contact cannot go in the User-Agent: it must be
// printable ASCII without parentheses (which would end the comment it sits
// in), at most 200 bytes.
func CheckContact(contact string) error {
	if contact == "" || len(contact) > 200 {
		return fmt.Errorf("contact %q must be 1 to 200 characters", contact)
	}
	for _, r := range contact {
		if r < 0x20 || r > 0x7e || r == '(' || r == ')' || r == '\\' {
			return fmt.Errorf("contact %q may hold printable ASCII only, without parentheses or backslashes", contact)
		}
	}
	return nil
}

// DefaultMaxBodySize bounds the bytes read from one response: a real page
// of 200 sections is well under 1 MiB, so anything near this is not a class
// list.
const DefaultMaxBodySize = 16 << 20

// catalogOrigin is what the catalog SPA sends as Origin and Referer; the API
// is only known to answer requests that look like they come from it.
const catalogOrigin = "https://catalog.apps.asu.edu/"

// Waiter is a politeness budget: Wait blocks until one more upstream request
// may be sent, or ctx ends. Its failure is returned wrapped, without a
// request being sent; not being a *catalog.Error it counts as KindServer.
type Waiter interface {
	Wait(ctx context.Context) error
}

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// BaseURL is the search API root, without a trailing slash.
	BaseURL string
	// Contact is the operator's address in the User-Agent (see UserAgent).
	Contact string
	// Timeout bounds each HTTP request (each page separately).
	Timeout time.Duration
	// Budget, when set, is waited on before every HTTP request.
	Budget Waiter
	// MaxPages caps the pages one search may follow, so a cursor that never
	// ends cannot keep a worker busy forever.
	MaxPages int
	// SectionBudget, when set, is charged the rows of every page read, and
	// a walk pauses between pages as long as it says.
	SectionBudget SectionBudget
	// MaxScanPages caps the pages of one subject or term walk.
	MaxScanPages int
	// Metrics, when set, receives the upstream request metrics.
	Metrics prometheus.Registerer
	// MaxBodySize caps the bytes read from one response; a larger body is
	// KindMalformed.
	MaxBodySize int
}

// Client is a catalog.Source for ASU. It is safe for concurrent use.
type Client struct {
	base      string
	userAgent string
	timeout   time.Duration
	budget    Waiter
	maxPages  int
	maxBody   int
	metrics   *metrics
	collector *colly.Collector

	sectionBudget SectionBudget
	maxScanPages  int
}

var _ catalog.Source = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Contact == "" {
		cfg.Contact = DefaultContact
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPages == 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	if cfg.MaxScanPages == 0 {
		cfg.MaxScanPages = DefaultMaxScanPages
	}
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	var errs []error
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base URL %q is not an absolute http(s) URL", cfg.BaseURL))
	}
	if err := CheckContact(cfg.Contact); err != nil {
		errs = append(errs, err)
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", cfg.Timeout))
	}
	if cfg.MaxPages < 0 || cfg.MaxScanPages < 0 {
		errs = append(errs, fmt.Errorf("max pages %d or max walk pages %d is negative", cfg.MaxPages, cfg.MaxScanPages))
	}
	if cfg.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf("max body size %d is negative", cfg.MaxBodySize))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("asu config: %w", err)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("asu: %w", err)
	}

	// A bare Collector plus Init, rather than colly.NewCollector, because
	// NewCollector also reads COLLY_* environment variables, and one of
	// them (COLLY_CACHE_DIR) would make us serve stale seat counts.
	c := &colly.Collector{}
	c.Init()
	c.UserAgent = UserAgent(cfg.Contact)
	c.AllowURLRevisit = true // we poll the same URLs on purpose
	c.IgnoreRobotsTxt = true
	c.ParseHTTPErrorResponse = true     // we classify statuses ourselves
	c.MaxBodySize = cfg.MaxBodySize + 1 // one byte over tells "too big" from "exactly the limit"
	c.DisableCookies()
	c.SetRequestTimeout(cfg.Timeout)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	c.WithTransport(t)

	return &Client{
		base:      strings.TrimRight(cfg.BaseURL, "/"),
		userAgent: UserAgent(cfg.Contact),
		timeout:   cfg.Timeout,
		budget:    cfg.Budget,
		maxPages:  cfg.MaxPages,
		maxBody:   cfg.MaxBodySize,
		metrics:   m,
		collector: c,

		sectionBudget: cfg.SectionBudget,
		maxScanPages:  cfg.MaxScanPages,
	}, nil
}

func classQuery(term string) url.Values {
	return url.Values{
		"refine":                  {"Y"},
		"campusOrOnlineSelection": {"A"},
		"honors":                  {"F"},
		"promod":                  {"F"},
		"searchType":              {"all"},
		"term":                    {term},
	}
}

// Course returns every section of a course; a course with no sections is an
// empty slice.
func (c *Client) Course(ctx context.Context, key catalog.CourseKey) ([]catalog.Section, error) {
	q := classQuery(key.Term)
	q.Set("subject", key.Subject)
	q.Set("catalogNbr", key.CatalogNbr)
	all, err := c.search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("asu course %s: %w", key, notFoundIsServer(err))
	}
	// Upstream filters are not documented to be exact (and ES-backed
	// searches often are not), so keep only the course asked for.
	out := make([]catalog.Section, 0, len(all))
	for _, s := range all {
		if s.Term == key.Term && strings.EqualFold(s.Subject, key.Subject) && strings.EqualFold(s.CatalogNbr, key.CatalogNbr) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Section returns one section, or a *catalog.Error of KindNotFound.
func (c *Client) Section(ctx context.Context, key catalog.SectionKey) (catalog.Section, error) {
	q := classQuery(key.Term)
	q.Set("classNbr", key.ClassNbr)
	all, err := c.search(ctx, q)
	if err != nil {
		return catalog.Section{}, fmt.Errorf("asu section %s: %w", key, err)
	}
	for _, s := range all {
		if s.Term == key.Term && s.ClassNbr == key.ClassNbr {
			return s, nil
		}
	}
	return catalog.Section{}, &catalog.Error{Kind: catalog.KindNotFound, Err: fmt.Errorf("asu section %s: not in the class search", key)}
}

// Terms lists the terms the catalog offers.
func (c *Client) Terms(ctx context.Context) ([]catalog.Term, error) {
	body, err := c.get(ctx, c.base+"/terms")
	if err != nil {
		return nil, fmt.Errorf("asu terms: %w", notFoundIsServer(err))
	}
	terms, err := parseTerms(body)
	if err != nil {
		return nil, fmt.Errorf("asu terms: %w", &catalog.Error{Kind: catalog.KindMalformed, Status: http.StatusOK, Err: err})
	}
	return terms, nil
}

// search reads every page of a class search.
func (c *Client) search(ctx context.Context, q url.Values) ([]catalog.Section, error) {
	var out []catalog.Section
	read := 0
	for page := 1; ; page++ {
		body, err := c.get(ctx, c.base+"/classes?"+q.Encode())
		if err != nil {
			return nil, err
		}
		p, err := Parse(body)
		if err != nil {
			return nil, &catalog.Error{Kind: catalog.KindMalformed, Status: http.StatusOK, Err: err}
		}
		out = append(out, p.Sections...)
		read += p.rows
		pause, err := c.chargeSections(ctx, p.rows)
		if err != nil {
			return nil, err
		}
		if p.rows == 0 || read >= p.Total || p.ScrollID == "" {
			return out, nil
		}
		if err := pauseFor(ctx, pause); err != nil {
			return nil, err
		}
		if page >= c.maxPages {
			// Partial results would make the missing sections look absent.
			return nil, &catalog.Error{Kind: catalog.KindMalformed, Err: fmt.Errorf("read %d of %d rows in %d pages; giving up", read, p.Total, page)}
		}
		q.Set("scrollId", p.ScrollID)
	}
}

// get performs one upstream GET and returns the body of a 2xx response.
//
// colly has no per-request context: a Collector carries one in its Context
// field. So each request runs on a Clone of the configured collector (which
// shares its HTTP client and transport) with Context set to ctx bounded by
// the timeout; cancelling ctx aborts the request, including the body read.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	if c.budget != nil {
		if err := c.budget.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, &catalog.Error{Kind: catalog.KindTimeout, Err: fmt.Errorf("wait for request budget: %w", ctx.Err())}
			}
			return nil, fmt.Errorf("wait for request budget: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	col := c.collector.Clone()
	col.Context = ctx
	var resp *colly.Response
	col.OnResponse(func(r *colly.Response) { resp = r })
	hdr := http.Header{
		"Authorization": {"Bearer null"}, // literally: what the SPA sends when anonymous
		"Accept":        {"application/json"},
		"User-Agent":    {c.userAgent},
		"Origin":        {strings.TrimSuffix(catalogOrigin, "/")},
		"Referer":       {catalogOrigin},
	}
	start := time.Now()
	err := col.Request(http.MethodGet, u, nil, nil, hdr)
	elapsed := time.Since(start)

	if err != nil || resp == nil {
		ce := transportError(ctx, err)
		code := "error"
		if ce.Kind == catalog.KindTimeout {
			code = "timeout"
		}
		c.observe(elapsed, code)
		return nil, ce
	}
	c.observe(elapsed, strconv.Itoa(resp.StatusCode))
	if ce := statusError(resp.StatusCode, resp.Headers, time.Now()); ce != nil {
		return nil, ce
	}
	if len(resp.Body) > c.maxBody {
		return nil, &catalog.Error{Kind: catalog.KindMalformed, Status: resp.StatusCode, Err: fmt.Errorf("body exceeds %d bytes", c.maxBody)}
	}
	return resp.Body, nil
}

func (c *Client) observe(d time.Duration, code string) {
	if c.metrics == nil {
		return
	}
	c.metrics.requests.WithLabelValues(code).Inc()
	c.metrics.duration.Observe(d.Seconds())
}

// transportError classifies a request that got no response. A cancelled
// caller context is reported as KindTimeout too (wrapping context.Canceled),
// so errors.Is(err, context.Canceled) tells shutdown from a slow upstream.
func transportError(ctx context.Context, err error) *catalog.Error {
	if err == nil {
		err = errors.New("request aborted without a response")
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &catalog.Error{Kind: catalog.KindTimeout, Err: errors.Join(ctxErr, err)}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &catalog.Error{Kind: catalog.KindTimeout, Err: err}
	}
	return &catalog.Error{Kind: catalog.KindServer, Err: err}
}

// statusError classifies a non-2xx status; nil for 2xx. 404 is reported as
// KindNotFound here; callers for which a 404 cannot mean "no such section"
// turn it back into a server error.
func statusError(code int, h *http.Header, now time.Time) *catalog.Error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests:
		var ra string
		if h != nil {
			ra = h.Get("Retry-After")
		}
		return &catalog.Error{Kind: catalog.KindRateLimited, Status: code, RetryAfter: parseRetryAfter(ra, now)}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &catalog.Error{Kind: catalog.KindUnauthorized, Status: code, Err: errors.New(`"Bearer null" was refused`)}
	case code == http.StatusNotFound:
		return &catalog.Error{Kind: catalog.KindNotFound, Status: code}
	case code == http.StatusRequestTimeout || code == http.StatusGatewayTimeout:
		return &catalog.Error{Kind: catalog.KindTimeout, Status: code}
	default:
		return &catalog.Error{Kind: catalog.KindServer, Status: code}
	}
}

// notFoundIsServer reclassifies a 404 from an endpoint that answers an empty
// list for "nothing found": there, a 404 means the API moved, which should
// count toward the breaker.
func notFoundIsServer(err error) error {
	var ce *catalog.Error
	if errors.As(err, &ce) && ce.Kind == catalog.KindNotFound {
		return &catalog.Error{Kind: catalog.KindServer, Status: ce.Status, Err: errors.New("endpoint not found")}
	}
	return err
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; zero
// when absent or unparseable, leaving the backoff to the caller.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
