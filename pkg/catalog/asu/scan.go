package asu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// PageSize is the number of sections the class search returns per page. A
// walk ends when it has read total.value rows; a short or empty page before
// that means the search moved under it.
const PageSize = 200

// DefaultMaxScanPages caps the pages of one walk: 100,000 sections, several
// times the largest term.
const DefaultMaxScanPages = 500

// scanRestarts is how many times a walk starts over from its first page
// when the search moved under it (its scroll context expired, its total
// changed, a page came back short) before it fails.
const scanRestarts = 2

// ErrTooManyPages is wrapped by a walk that reached its page cap before the
// search's end.
var ErrTooManyPages = errors.New("walk exceeds its page cap")

// SectionBudget is the budget of sections fetched per second. Reserve
// charges n sections and returns how long the caller should pause for the
// budget to be kept.
type SectionBudget interface {
	Reserve(ctx context.Context, n int) (time.Duration, error)
}

// errRestart marks a walk the search moved under; Scan starts it over.
type errRestart struct{ err error }

func (e errRestart) Error() string { return e.err.Error() }

// Scan walks every section of a subject in a term, or of the whole term when
// key.Subject is empty, through all its scroll pages. It returns only a
// complete walk: a walk whose scroll context expired, whose total moved or
// that came back short starts over (at most twice); one that fails on any
// page returns the error and no sections, so a section missing from a Scan
// is truly absent from the search.
//
// expect is the walk's estimated size in sections. They are paid for from
// the section budget before the first page, and the walk then reads its
// pages one after another (at the request rate): the search answers from a
// snapshot taken at the first page, so a walk paced page by page would
// report seats as they were long before it ends. Rows beyond the estimate
// (or all of them, when expect is 0) are paid for as they are read, pausing
// before the next page as the budget asks.
func (c *Client) Scan(ctx context.Context, key catalog.ScanKey, expect int) (catalog.Scan, error) {
	if key.Term == "" {
		return catalog.Scan{}, fmt.Errorf("asu walk %s: no term", key)
	}
	q := classQuery(key.Term)
	if key.Subject != "" {
		q.Set("subject", key.Subject)
	}
	credit := 0
	if expect > 0 && c.sectionBudget != nil {
		pause, err := c.chargeSections(ctx, expect)
		if err != nil {
			return catalog.Scan{}, fmt.Errorf("asu walk %s: %w", key, err)
		}
		if err := pauseFor(ctx, pause); err != nil {
			return catalog.Scan{}, fmt.Errorf("asu walk %s: %w", key, err)
		}
		credit = expect
	}
	pages := 0
	for attempt := 0; ; attempt++ {
		sc, err := c.walk(ctx, q.Encode(), &pages, &credit)
		var restart errRestart
		switch {
		case err == nil:
			sc.Key = key
			sc.Pages = pages
			// Keep what the walk asked for: the filter is not documented
			// to be exact.
			kept := sc.Sections[:0]
			for _, s := range sc.Sections {
				if key.Covers(catalog.CourseKey{Term: s.Term, Subject: s.Subject}) {
					kept = append(kept, s)
				}
			}
			sc.Sections = kept
			return sc, nil
		case errors.As(err, &restart) && attempt < scanRestarts:
			if c.metrics != nil {
				c.metrics.restarts.Inc()
			}
			continue
		case errors.As(err, &restart):
			return catalog.Scan{}, fmt.Errorf("asu walk %s: started over %d times: %w", key, attempt,
				&catalog.Error{Kind: catalog.KindMalformed, Err: restart.err})
		default:
			return catalog.Scan{}, fmt.Errorf("asu walk %s: %w", key, err)
		}
	}
}

// walk reads one search from its first page to its last, counting the
// requests it makes into *pages and spending the sections paid for in
// advance from *credit.
func (c *Client) walk(ctx context.Context, query string, pages, credit *int) (catalog.Scan, error) {
	var (
		sc    catalog.Scan
		seen  = make(map[string]bool)
		read  int
		total = -1
		next  = c.base + "/classes?" + query
	)
	for page := 1; ; page++ {
		if page > c.maxScanPages {
			return catalog.Scan{}, &catalog.Error{Kind: catalog.KindMalformed,
				Err: fmt.Errorf("%w: read %d of %d rows in %d pages", ErrTooManyPages, read, total, page-1)}
		}
		*pages++
		body, err := c.get(ctx, next)
		if err != nil {
			if page > 1 && catalog.KindOf(err) == catalog.KindNotFound {
				// "No search context found": the scroll expired.
				return catalog.Scan{}, errRestart{fmt.Errorf("page %d: scroll context lost", page)}
			}
			return catalog.Scan{}, fmt.Errorf("page %d: %w", page, notFoundIsServer(err))
		}
		p, err := Parse(body)
		if err != nil {
			return catalog.Scan{}, &catalog.Error{Kind: catalog.KindMalformed, Status: http.StatusOK,
				Err: fmt.Errorf("page %d: %w", page, err)}
		}
		if total >= 0 && p.Total != total {
			return catalog.Scan{}, errRestart{fmt.Errorf("page %d: total moved from %d to %d", page, total, p.Total)}
		}
		total = p.Total
		read += p.rows
		for _, s := range p.Sections {
			if k := s.Term + ":" + s.ClassNbr; !seen[k] {
				seen[k] = true
				sc.Sections = append(sc.Sections, s)
			}
		}
		last := read >= total
		if !last && (p.rows < PageSize || p.ScrollID == "") {
			return catalog.Scan{}, errRestart{fmt.Errorf("page %d: ended at %d of %d rows", page, read, total)}
		}
		// Rows not paid for in advance are paid for once read; the pause
		// before the next page keeps the walk to the section budget.
		prepaid := min(*credit, p.rows)
		*credit -= prepaid
		pause, err := c.chargeSections(ctx, p.rows-prepaid)
		if err != nil {
			return catalog.Scan{}, err
		}
		if last {
			sc.Total = max(total, len(sc.Sections))
			return sc, nil
		}
		if err := pauseFor(ctx, pause); err != nil {
			return catalog.Scan{}, err
		}
		next = c.base + "/classes?" + query + "&scrollId=" + url.QueryEscape(p.ScrollID)
	}
}

// chargeSections reserves n sections from the section budget.
func (c *Client) chargeSections(ctx context.Context, n int) (time.Duration, error) {
	if c.sectionBudget == nil || n <= 0 {
		return 0, nil
	}
	d, err := c.sectionBudget.Reserve(ctx, n)
	if err != nil {
		if ctx.Err() != nil {
			return 0, &catalog.Error{Kind: catalog.KindTimeout, Err: fmt.Errorf("charge section budget: %w", ctx.Err())}
		}
		return 0, fmt.Errorf("charge section budget: %w", err)
	}
	return d, nil
}

func pauseFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return &catalog.Error{Kind: catalog.KindTimeout, Err: fmt.Errorf("wait for section budget: %w", ctx.Err())}
	case <-t.C:
		return nil
	}
}
