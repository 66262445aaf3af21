package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

var (
	subjectRe    = regexp.MustCompile(`^[A-Z]{2,4}$`)
	catalogNbrRe = regexp.MustCompile(`^[0-9]{3}[A-Z]{0,2}$`)
)

// watchInput is a new watch, from the API or the add forms.
type watchInput struct {
	// Kind is "section" (the default), "course" or "linked".
	Kind string `json:"kind"`
	Term string `json:"term"`
	// ClassNbr is the section, or a linked watch's lecture.
	ClassNbr string `json:"class_nbr"`
	// Subject and CatalogNbr name a course watch's course.
	Subject    string `json:"subject"`
	CatalogNbr string `json:"catalog_nbr"`
	// Filter narrows a course watch.
	Filter         *catalog.Filter `json:"filter"`
	NotifyReserved bool            `json:"notify_reserved"`
	NotifyGone     bool            `json:"notify_gone"`
}

// addWatch validates a new watch against the catalog and creates it. The
// watch limit and a duplicate are refused before the class search is asked
// anything. It never writes the sections' shared state: a fresh
// observation here could hide a seat opening from the other watchers.
func (a *app) addWatch(ctx context.Context, u *store.User, in watchInput) (store.Watch, error) {
	in.Kind = strings.ToLower(strings.TrimSpace(in.Kind))
	in.Term, in.ClassNbr = strings.TrimSpace(in.Term), strings.TrimSpace(in.ClassNbr)
	in.Subject, in.CatalogNbr = strings.ToUpper(strings.TrimSpace(in.Subject)), strings.ToUpper(strings.TrimSpace(in.CatalogNbr))
	kind := catalog.WatchKind(in.Kind)
	if kind == "" {
		kind = catalog.WatchSection
	}
	var f fields
	if !kind.Valid() {
		f.add("kind", `The kind of watch is "section", "course" or "linked".`)
		return store.Watch{}, f.err()
	}
	if !termRe.MatchString(in.Term) {
		f.add("term", "Choose a term.")
	}
	nw := store.NewWatch{Kind: kind, Term: in.Term, NotifyReserved: in.NotifyReserved, NotifyGone: in.NotifyGone}
	if kind == catalog.WatchCourse {
		if in.ClassNbr != "" {
			f.add("class_nbr", "A course watch names its subject and catalog number, not a class number.")
		}
		if !subjectRe.MatchString(in.Subject) {
			f.add("subject", "The subject is 2 to 4 letters, like CSE.")
		}
		if !catalogNbrRe.MatchString(in.CatalogNbr) {
			f.add("catalog_nbr", "The catalog number is 3 digits, like 240.")
		}
		if in.Filter != nil {
			f = append(f, filterErrors(*in.Filter)...)
			nw.Filter, _ = in.Filter.Normalize()
		}
		nw.Subject, nw.CatalogNbr = in.Subject, in.CatalogNbr
	} else {
		if !classNbrRe.MatchString(in.ClassNbr) {
			f.add("class_nbr", "The class number is exactly 5 digits, like 70412.")
		}
		if in.Subject != "" || in.CatalogNbr != "" {
			f.add("subject", "A "+string(kind)+" watch names its class number only; the course comes from the catalog.")
		}
		if in.Filter != nil {
			f.add("filter", "Only a course watch has a filter.")
		}
		nw.ClassNbr = in.ClassNbr
	}
	if err := f.err(); err != nil {
		return store.Watch{}, err
	}
	if err := a.watchSlot(ctx, u.ID, nw); err != nil {
		return store.Watch{}, err
	}
	if err := a.knownTerm(ctx, in.Term); err != nil {
		return store.Watch{}, err
	}
	var err error
	switch kind {
	case catalog.WatchCourse:
		err = a.lookupCourse(ctx, u.ID, &nw)
	case catalog.WatchLinked:
		err = a.lookupLinked(ctx, u.ID, &nw)
	default:
		err = a.lookupSection(ctx, u.ID, &nw)
	}
	if err != nil {
		return store.Watch{}, err
	}
	w, err := a.DB.CreateWatch(ctx, u.ID, nw, a.WatchLimit)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Watch{}, duplicateWatch(nw)
	case errors.Is(err, store.ErrLimitReached):
		return store.Watch{}, a.watchLimitReached()
	case err != nil:
		return store.Watch{}, err
	}
	return w, nil
}

// watchSlot refuses a watch the user already has, or one over the limit,
// before anything is spent on looking it up.
func (a *app) watchSlot(ctx context.Context, uid int64, nw store.NewWatch) error {
	n, dup, err := a.DB.WatchSlot(ctx, uid, nw)
	switch {
	case err != nil:
		return err
	case dup:
		return duplicateWatch(nw)
	case n >= a.WatchLimit:
		return a.watchLimitReached()
	}
	return nil
}

// knownTerm refuses a term the catalog does not offer.
func (a *app) knownTerm(ctx context.Context, term string) error {
	terms, err := a.terms(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(terms, func(t catalog.Term) bool { return t.Code == term }) {
		return invalid(FieldError{Field: "term", Message: "The catalog does not offer that term."})
	}
	return nil
}

// lookupSection completes a section watch with its course.
func (a *app) lookupSection(ctx context.Context, uid int64, nw *store.NewWatch) error {
	key := catalog.SectionKey{Term: nw.Term, ClassNbr: nw.ClassNbr}
	sec, err := a.sectionOf(ctx, uid, key)
	if errors.Is(err, errLookupMissing) {
		return sectionMissing(key)
	}
	if err != nil {
		return err
	}
	nw.Subject, nw.CatalogNbr = sec.Subject, sec.CatalogNbr
	return nil
}

// lookupCourse checks that a course watch's course is in the catalog and
// takes its spelling from it.
func (a *app) lookupCourse(ctx context.Context, uid int64, nw *store.NewWatch) error {
	key := catalog.CourseKey{Term: nw.Term, Subject: nw.Subject, CatalogNbr: nw.CatalogNbr}
	secs, err := a.courseSections(ctx, uid, key, false)
	if errors.Is(err, errLookupMissing) {
		return courseMissing(key)
	}
	if err != nil {
		return err
	}
	nw.Subject, nw.CatalogNbr = secs[0].Subject, secs[0].CatalogNbr
	return nil
}

// lookupLinked checks that a linked watch's section is a lecture with
// labs or recitations, and records whether the lecture and one of them
// both have seats now: the watch's baseline, so a combination already open
// is not announced as new. The seats are read afresh, not from the cache:
// a stale baseline would announce an opening the student saw already, or
// miss one.
func (a *app) lookupLinked(ctx context.Context, uid int64, nw *store.NewWatch) error {
	lecture, labs, secs, err := a.linkedOf(ctx, uid, catalog.SectionKey{Term: nw.Term, ClassNbr: nw.ClassNbr}, true)
	if err != nil {
		return err
	}
	if len(labs) == 0 {
		return invalid(FieldError{Field: "class_nbr", Message: noLabs(lecture, primaryOf(lecture, secs))})
	}
	nw.Subject, nw.CatalogNbr = lecture.Subject, lecture.CatalogNbr
	nw.Open = hasSeats(lecture, nw.NotifyReserved) && slices.ContainsFunc(labs, func(s catalog.Section) bool { return hasSeats(s, nw.NotifyReserved) })
	return nil
}

// linkedOf looks a section up with its course (afresh when fresh), and
// returns it with its labs and recitations and every section of the
// course.
func (a *app) linkedOf(ctx context.Context, uid int64, key catalog.SectionKey, fresh bool) (catalog.Section, []catalog.Section, []catalog.Section, error) {
	sec, err := a.sectionOf(ctx, uid, key)
	if errors.Is(err, errLookupMissing) {
		return sec, nil, nil, sectionMissing(key)
	}
	if err != nil {
		return sec, nil, nil, err
	}
	secs, err := a.courseSections(ctx, uid, sec.Course(), fresh)
	if errors.Is(err, errLookupMissing) {
		secs = []catalog.Section{sec}
	} else if err != nil {
		return sec, nil, nil, err
	}
	// The course's answer is as fresh as the section's, or fresher.
	if i := slices.IndexFunc(secs, func(s catalog.Section) bool { return s.ClassNbr == key.ClassNbr }); i >= 0 {
		sec = secs[i]
	}
	if primaryOf(sec, secs) != nil {
		// A lab's "links" are its sibling labs: only a lecture has labs.
		return sec, nil, secs, nil
	}
	return sec, sec.Linked(secs), secs, nil
}

// primaryOf returns the lecture a lab or recitation goes with, or nil for
// a section that is not one.
func primaryOf(sec catalog.Section, secs []catalog.Section) *catalog.Section {
	if sec.Primary || sec.Association == "" {
		return nil
	}
	for i, p := range secs {
		if p.Primary && p.Association == sec.Association && p.ClassNbr != sec.ClassNbr {
			return &secs[i]
		}
	}
	return nil
}

// noLabs says why a section cannot be watched with its labs; lecture is
// the one it goes with when it is a lab itself.
func noLabs(sec catalog.Section, lecture *catalog.Section) string {
	name := sec.Subject + " " + sec.CatalogNbr + " #" + sec.ClassNbr
	if lecture != nil {
		return "Class " + name + " is a " + strings.ToLower(componentLabel(sec.Component)) + " of lecture #" + lecture.ClassNbr +
			". To take them together, watch #" + lecture.ClassNbr + " with its labs."
	}
	return "Class " + name + " has no labs or recitations linked to it. Watch the section itself instead."
}

// hasSeats reports whether a section has seats a watch counts: open to
// everyone, or held for some students when the watch asks for those.
func hasSeats(s catalog.Section, reserved bool) bool {
	if n, ok := s.GeneralOpen(); ok && n > 0 {
		return true
	}
	return reserved && s.Status == catalog.StatusOpen && s.OpenSeats() > 0
}

// filterErrors checks a filter field by field with Filter.Normalize, so
// that each problem is reported on its own field ("filter.mode", …).
func filterErrors(f catalog.Filter) []FieldError {
	var out []FieldError
	check := func(field string, part catalog.Filter) {
		if _, err := part.Normalize(); err != nil {
			out = append(out, FieldError{Field: "filter." + field, Message: sentence(err)})
		}
	}
	check("mode", catalog.Filter{Mode: f.Mode})
	check("campus", catalog.Filter{Campus: f.Campus})
	check("instructor", catalog.Filter{Instructor: f.Instructor})
	check("days", catalog.Filter{Days: f.Days})
	check("after", catalog.Filter{After: f.After})
	check("before", catalog.Filter{Before: f.Before})
	if len(out) == 0 {
		// The parts are fine; the window as a whole may not be.
		check("before", f)
	}
	return out
}

// sentence turns a validation error into a sentence for the user.
func sentence(err error) string {
	s := strings.TrimPrefix(err.Error(), "filter: ")
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	if r, n := utf8.DecodeRuneInString(s); n > 0 {
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// duplicateWatch is the conflict of a watch the user already has.
func duplicateWatch(nw store.NewWatch) error {
	field, what := "class_nbr", "class #"+nw.ClassNbr
	switch nw.Kind {
	case catalog.WatchCourse:
		field, what = "catalog_nbr", "any section of "+nw.Subject+" "+nw.CatalogNbr
	case catalog.WatchLinked:
		what = "class #" + nw.ClassNbr + " with its labs"
	}
	return &Error{Status: http.StatusConflict, Message: "You are already watching this class.",
		Details: []FieldError{{Field: field, Message: "You are already watching " + what + " in " + asu.TermName(nw.Term) + "."}}}
}
