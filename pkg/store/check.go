package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// eligibleUser is the condition, on users aliased u, for an account that can
// receive mail. Checks are scheduled only for such users too: a user who can
// get no mail needs no checks.
const eligibleUser = `(u.disabled_at IS NULL AND u.deleted_at IS NULL AND u.notify_email
	AND u.unsubscribed_at IS NULL AND u.bounced_at IS NULL AND u.complained_at IS NULL
	AND u.verified_at IS NOT NULL)`

// notFoundRecheck is how long a watch whose section was not found rests
// before it is checked again: a section can come back (a registrar glitch,
// a section re-added), and the check costs at most one request per course.
const notFoundRecheck = "6 hours"

// DueCourse is a course to check, the watched sections the check is for,
// and what makes them urgent.
type DueCourse struct {
	Course    catalog.CourseKey
	ClassNbrs []string // sorted, distinct
	// Watchers counts the due watches on the sections.
	Watchers int
	// Full counts the sections last seen with no open seat.
	Full int
	// ChangedAt is the latest change seen on one of them; zero if none.
	ChangedAt time.Time
}

const dueCoursesSQL = `
SELECT w.term, w.subject, w.catalog_nbr, array_agg(DISTINCT w.class_nbr ORDER BY w.class_nbr),
	count(*), count(DISTINCT w.class_nbr) FILTER (WHERE s.open_seats <= 0), max(s.changed_at)
FROM class_watches w
JOIN users u ON u.id = w.user_id
LEFT JOIN section_states s ON s.term = w.term AND s.class_nbr = w.class_nbr
WHERE (w.not_found_at IS NULL OR w.not_found_at < now() - interval '` + notFoundRecheck + `')
  AND ` + alertableUser + `
GROUP BY w.term, w.subject, w.catalog_nbr
ORDER BY w.term, w.subject, w.catalog_nbr`

// DueCourses returns every course with at least one watch of an eligible user
// that is not marked not found in the last six hours, ordered by term,
// subject and catalog number.
func (db *DB) DueCourses(ctx context.Context) ([]DueCourse, error) {
	rows, err := db.pool.Query(ctx, dueCoursesSQL)
	if err != nil {
		return nil, fmt.Errorf("due courses: %w", err)
	}
	courses, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueCourse, error) {
		var c DueCourse
		var changed *time.Time
		err := row.Scan(&c.Course.Term, &c.Course.Subject, &c.Course.CatalogNbr, &c.ClassNbrs, &c.Watchers, &c.Full, &changed)
		if changed != nil {
			c.ChangedAt = *changed
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("due courses: %w", err)
	}
	return courses, nil
}

// CourseObservation is the outcome of one upstream check of a course.
type CourseObservation struct {
	Course catalog.CourseKey
	// ObservedAt is when the source answered; it orders observations, so a
	// redelivered or overtaken check cannot overwrite a newer one.
	ObservedAt time.Time
	// Sections is what the source returned for the course.
	Sections []catalog.Section
	// Wanted lists the class numbers the check was for. Only these are
	// stored; a wanted one missing from Sections is marked not found.
	Wanted []string
}

// ApplyResult says what ApplyCourse did.
type ApplyResult struct {
	Applied  int // wanted sections whose observation was stored
	Stale    int // wanted sections skipped because a newer observation is stored
	NotFound int // wanted sections missing from the source's answer
	Claims   int // notification claims created
	// ChannelClaims counts channel delivery claims created.
	ChannelClaims int
	// Changed lists sections whose user-visible state changed, including
	// first observations and sections that reappeared.
	Changed []catalog.SectionKey
	// Notify lists sections that got new claims, email or channel, for
	// ClaimPending.
	Notify []catalog.SectionKey
}

// sectionLockSpace is the first key of the two-key advisory locks taken on
// sections; it keeps them apart from every other advisory lock.
const sectionLockSpace int32 = 0x706d6373 // "pmcs"

// lockSectionsSQL locks each wanted section, in a stable order so two workers
// never deadlock. Row locks alone would not do: a section seen for the first
// time has no row yet, and two concurrent first observations must still be
// ordered so the later one sees the earlier one as prev.
const lockSectionsSQL = `
SELECT count(pg_advisory_xact_lock($3::int, hashtext($1 || ':' || nbr)))
FROM (SELECT DISTINCT unnest($2::text[]) AS nbr ORDER BY 1) AS s`

const readStatesSQL = `SELECT ` + stateColumns + `
FROM section_states s WHERE s.term = $1 AND s.class_nbr = ANY($2::text[])`

// upsertStatesSQL's WHERE repeats the staleness rule ApplyCourse already
// applied under the lock, so no code path can overwrite a newer observation.
const upsertStatesSQL = `
INSERT INTO section_states AS st (term, class_nbr, subject, catalog_nbr, section, title, instructors,
	capacity, enrolled, open_seats, status, has_reserved_seats, non_reserved_open,
	campus, location, online, mode, session, meetings,
	observed_at, changed_at, seat_epoch, instructor_epoch, not_found_at, reserved_groups, general_open)
SELECT $1, x.class_nbr, x.subject, x.catalog_nbr, x.section, x.title, x.instructors::jsonb,
	x.capacity, x.enrolled, x.open_seats, x.status, x.has_reserved, x.non_reserved,
	x.campus, x.location, x.online, x.mode, x.session, x.meetings::jsonb,
	$2, x.changed_at, x.seat_epoch, x.instructor_epoch, NULL, x.reserved_groups::jsonb, x.general_open
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::int[], $10::int[], $11::int[], $12::text[], $13::bool[], $14::int[],
	$15::text[], $16::text[], $17::bool[], $18::text[], $19::text[], $20::text[],
	$21::timestamptz[], $22::int[], $23::int[], $24::text[], $25::int[])
	AS x(class_nbr, subject, catalog_nbr, section, title, instructors,
	capacity, enrolled, open_seats, status, has_reserved, non_reserved,
	campus, location, online, mode, session, meetings,
	changed_at, seat_epoch, instructor_epoch, reserved_groups, general_open)
ON CONFLICT (term, class_nbr) DO UPDATE SET
	subject = EXCLUDED.subject, catalog_nbr = EXCLUDED.catalog_nbr, section = EXCLUDED.section,
	title = EXCLUDED.title, instructors = EXCLUDED.instructors,
	capacity = EXCLUDED.capacity, enrolled = EXCLUDED.enrolled, open_seats = EXCLUDED.open_seats,
	status = EXCLUDED.status, has_reserved_seats = EXCLUDED.has_reserved_seats,
	non_reserved_open = EXCLUDED.non_reserved_open, campus = EXCLUDED.campus,
	location = EXCLUDED.location, online = EXCLUDED.online, mode = EXCLUDED.mode,
	session = EXCLUDED.session, meetings = EXCLUDED.meetings,
	observed_at = EXCLUDED.observed_at, changed_at = EXCLUDED.changed_at,
	seat_epoch = EXCLUDED.seat_epoch, instructor_epoch = EXCLUDED.instructor_epoch,
	not_found_at = NULL, reserved_groups = EXCLUDED.reserved_groups,
	general_open = COALESCE(EXCLUDED.general_open, st.general_open)
WHERE st.observed_at < EXCLUDED.observed_at`

// touchStatesSQL records an observation that changed nothing but its time.
const touchStatesSQL = `
UPDATE section_states SET observed_at = $2
WHERE term = $1 AND class_nbr = ANY($3::text[]) AND observed_at < $2`

const insertSeatHistorySQL = `
INSERT INTO seat_history (term, class_nbr, observed_at, open_seats, capacity, enrolled)
SELECT $1, x.class_nbr, $2, x.open_seats, x.capacity, x.enrolled
FROM unnest($3::text[], $4::int[], $5::int[], $6::int[]) AS x(class_nbr, open_seats, capacity, enrolled)
ON CONFLICT DO NOTHING`

const clearWatchNotFoundSQL = `
UPDATE class_watches SET not_found_at = NULL
WHERE term = $1 AND class_nbr = ANY($2::text[]) AND not_found_at IS NOT NULL`

// insertClaimsSQL claims each event for every eligible watcher. An event is
// the difference between the stored observation (its baseline, observed at
// baseline_at) and the new one. A baseline older than $5 (the new
// observation less the baseline's maximum age) was kept fresh by nobody's
// checks — the section went unwatched, or checks failed — so it is a
// baseline only for the watchers who were already watching when it was
// observed: a new watcher of a section unwatched for weeks is not told
// that its seats "opened" since then.
const insertClaimsSQL = `
INSERT INTO notifications (watch_id, user_id, term, class_nbr, event, epoch)
SELECT w.id, w.user_id, w.term, w.class_nbr, e.event, e.epoch
FROM unnest($2::text[], $3::text[], $4::int[], $6::timestamptz[], $7::bool[]) AS e(class_nbr, event, epoch, baseline_at, reserved_only)
JOIN class_watches w ON w.term = $1 AND w.class_nbr = e.class_nbr
JOIN users u ON u.id = w.user_id
WHERE ` + eligibleUser + `
  AND (e.baseline_at >= $5 OR w.created_at <= e.baseline_at)
  AND (NOT e.reserved_only OR w.notify_reserved)
ON CONFLICT (watch_id, event, epoch) DO NOTHING
RETURNING class_nbr`

// Not-found marks are limited to the checked course: a watch that names the
// section under another course was not part of this check.
const (
	markStateNotFoundSQL = `
UPDATE section_states SET not_found_at = COALESCE(not_found_at, $2), observed_at = $2
WHERE term = $1 AND class_nbr = ANY($3::text[]) AND subject = $4 AND catalog_nbr = $5 AND observed_at < $2`
	// The watch records when the section was last found missing (server
	// time, as DueCourses compares it with now()); the state keeps since
	// when it is missing.
	markWatchNotFoundSQL = `
UPDATE class_watches SET not_found_at = now()
WHERE term = $1 AND class_nbr = ANY($2::text[]) AND subject = $3 AND catalog_nbr = $4`
)

// stateRows collects the columns of upsertStatesSQL.
type stateRows struct {
	classNbr, subject, catalogNbr, section, title, instructors []string
	capacity, enrolled, openSeats                              []int32
	status                                                     []string
	hasReserved                                                []bool
	nonReserved                                                []*int32
	campus, location                                           []string
	online                                                     []bool
	mode, session, meetings                                    []string
	changedAt                                                  []time.Time
	seatEpoch, instructorEpoch                                 []int32
	reservedGroups                                             []*string
	generalOpen                                                []*int32
}

func (r *stateRows) add(s catalog.Section, changedAt time.Time, seatEpoch, instructorEpoch int) error {
	instructors, err := json.Marshal(nonNil(s.Instructors))
	if err != nil {
		return fmt.Errorf("encode instructors of %s: %w", s.Key(), err)
	}
	meetings, err := json.Marshal(nonNil(s.Meetings))
	if err != nil {
		return fmt.Errorf("encode meetings of %s: %w", s.Key(), err)
	}
	var nonReserved *int32
	if s.NonReservedOpen != nil {
		n := int32(*s.NonReservedOpen)
		nonReserved = &n
	}
	r.classNbr = append(r.classNbr, s.ClassNbr)
	r.subject = append(r.subject, s.Subject)
	r.catalogNbr = append(r.catalogNbr, s.CatalogNbr)
	r.section = append(r.section, s.SectionCode)
	r.title = append(r.title, s.Title)
	r.instructors = append(r.instructors, string(instructors))
	r.capacity = append(r.capacity, int32(s.Capacity))
	r.enrolled = append(r.enrolled, int32(s.Enrolled))
	r.openSeats = append(r.openSeats, int32(s.OpenSeats()))
	r.status = append(r.status, string(s.Status))
	r.hasReserved = append(r.hasReserved, s.HasReservedSeats)
	r.nonReserved = append(r.nonReserved, nonReserved)
	r.campus = append(r.campus, s.Campus)
	r.location = append(r.location, s.Location)
	r.online = append(r.online, s.Online)
	r.mode = append(r.mode, s.Mode)
	r.session = append(r.session, s.Session)
	r.meetings = append(r.meetings, string(meetings))
	r.changedAt = append(r.changedAt, changedAt)
	r.seatEpoch = append(r.seatEpoch, int32(seatEpoch))
	r.instructorEpoch = append(r.instructorEpoch, int32(instructorEpoch))
	var groups *string
	if s.NonReservedOpen != nil {
		b, err := json.Marshal(nonNil(s.ReservedGroups))
		if err != nil {
			return fmt.Errorf("encode reserved groups of %s: %w", s.Key(), err)
		}
		g := string(b)
		groups = &g
	}
	r.reservedGroups = append(r.reservedGroups, groups)
	var general *int32
	if n, ok := s.GeneralOpen(); ok {
		g := int32(n)
		general = &g
	}
	r.generalOpen = append(r.generalOpen, general)
	return nil
}

func (r *stateRows) args(term string, observedAt time.Time) []any {
	return []any{term, observedAt, r.classNbr, r.subject, r.catalogNbr, r.section, r.title, r.instructors,
		r.capacity, r.enrolled, r.openSeats, r.status, r.hasReserved, r.nonReserved,
		r.campus, r.location, r.online, r.mode, r.session, r.meetings,
		r.changedAt, r.seatEpoch, r.instructorEpoch, r.reservedGroups, r.generalOpen}
}

// applyPlan is what ApplyCourse decided under the section locks.
type applyPlan struct {
	states                               stateRows
	unchanged                            []string // found as stored: only observed_at moves
	histNbr                              []string
	histOpen, histCapacity, histEnrolled []int32
	claimNbr, claimEvent                 []string
	claimEpoch                           []int32
	claimBaseline                        []time.Time
	claimReservedOnly                    []bool
	notFound                             []courseNotFound
	result                               ApplyResult
	// planned holds the sections already decided in this batch: a section
	// watched under two courses is stored once.
	planned map[string]bool
}

// courseNotFound is the wanted sections of one course missing from its check.
type courseNotFound struct {
	course catalog.CourseKey
	nbrs   []string
}

// ApplyCourse stores one check of a course and claims the notifications it
// causes, all in one transaction (docs/DESIGN.md §2.8, order of effects): each
// wanted section's observation is stored only if it is newer than the stored
// one, and events are detected and claimed only for observations that were
// stored. Claims are unique per (watch, event, epoch), so applying the same
// observation twice creates nothing the second time.
func (db *DB) ApplyCourse(ctx context.Context, obs CourseObservation) (ApplyResult, error) {
	return db.ApplyCourses(ctx, []CourseObservation{obs})
}

// maxApplyBatch bounds the wanted sections one ApplyCourses transaction
// locks; a longer list is applied in several transactions, course by course.
// Each section takes an advisory lock, and PostgreSQL's lock table is shared
// and finite.
const maxApplyBatch = 500

// ApplyCourses applies the checks of several courses of one term, as
// ApplyCourse does for one, in as few transactions as the lock bound allows:
// a walk of a subject or term stores thousands of sections per check. Each
// transaction holds whole courses; if one fails, those before it stay
// applied (a retry finds them stale and claims nothing twice).
func (db *DB) ApplyCourses(ctx context.Context, obs []CourseObservation) (ApplyResult, error) {
	var total ApplyResult
	for len(obs) > 0 {
		n, size := 0, 0
		for n < len(obs) && (n == 0 || size+len(obs[n].Wanted) <= maxApplyBatch && obs[n].ObservedAt.Equal(obs[0].ObservedAt)) {
			size += len(obs[n].Wanted)
			n++
		}
		res, err := db.applyBatch(ctx, obs[:n])
		if err != nil {
			return total, err
		}
		total.Applied += res.Applied
		total.Stale += res.Stale
		total.NotFound += res.NotFound
		total.Claims += res.Claims
		total.ChannelClaims += res.ChannelClaims
		total.Changed = append(total.Changed, res.Changed...)
		total.Notify = append(total.Notify, res.Notify...)
		obs = obs[n:]
	}
	return total, nil
}

// applyBatch applies observations of one term, made at one time, in one
// transaction.
func (db *DB) applyBatch(ctx context.Context, obs []CourseObservation) (ApplyResult, error) {
	op := "apply course " + obs[0].Course.String()
	if len(obs) > 1 {
		op = fmt.Sprintf("apply %d courses of term %s", len(obs), obs[0].Course.Term)
	}
	term := obs[0].Course.Term
	wantedBy := make([][]string, len(obs))
	var all []string
	for i, o := range obs {
		if o.Course.Term == "" || o.ObservedAt.IsZero() {
			return ApplyResult{}, fmt.Errorf("%s: term and observed-at are required", op)
		}
		if o.Course.Term != term || !o.ObservedAt.Equal(obs[0].ObservedAt) {
			return ApplyResult{}, fmt.Errorf("%s: course %s is of another term or time", op, o.Course)
		}
		w := slices.Clone(o.Wanted)
		slices.Sort(w)
		wantedBy[i] = slices.Compact(w)
		all = append(all, wantedBy[i]...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 {
		return ApplyResult{}, nil
	}
	// PostgreSQL keeps microseconds; comparing at that precision is what
	// makes a redelivered observation equal to the stored one, hence stale.
	observedAt := obs[0].ObservedAt.UTC().Truncate(time.Microsecond)

	// The transaction takes two round trips: BEGIN travels with the locks
	// and reads, COMMIT with the writes. A batch that fails leaves the
	// transaction open and failed; it is rolled back, and a connection
	// released in any other state than idle is closed by the pool.
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("%s: %w", op, err)
	}
	defer conn.Release()
	plan, err := func() (applyPlan, error) {
		prev, err := readLocked(ctx, conn, term, all)
		if err != nil {
			return applyPlan{}, err
		}
		var plan applyPlan
		for i, o := range obs {
			if err := planApply(&plan, o, wantedBy[i], observedAt, prev); err != nil {
				return applyPlan{}, err
			}
		}
		return plan, writePlan(ctx, conn, term, observedAt, db.baselineMaxAge, &plan)
	}()
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return ApplyResult{}, fmt.Errorf("%s: %w", op, err)
	}
	return plan.result, nil
}

// readLocked begins the transaction, locks the wanted sections and returns
// their stored states by class number, in one round trip.
func readLocked(ctx context.Context, conn *pgxpool.Conn, term string, wanted []string) (map[string]*SectionState, error) {
	prev := make(map[string]*SectionState, len(wanted))
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(lockSectionsSQL, term, wanted, sectionLockSpace)
	b.Queue(readStatesSQL, term, wanted).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var n nullableState
			if err := rows.Scan(n.dest()...); err != nil {
				return err
			}
			st, err := n.state()
			if err != nil {
				return err
			}
			prev[st.Section.ClassNbr] = st
		}
		return rows.Err()
	})
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("read section states: %w", err)
	}
	return prev, nil
}

// planApply decides, in memory, every write of one course's observation,
// adding them to p.
func planApply(p *applyPlan, obs CourseObservation, wanted []string, observedAt time.Time, prev map[string]*SectionState) error {
	var notFound []string
	found := make(map[string]catalog.Section, len(obs.Sections))
	for _, s := range obs.Sections {
		if s.Term == obs.Course.Term {
			found[s.ClassNbr] = s
		}
	}
	if p.planned == nil {
		p.planned = map[string]bool{}
	}
	for _, nbr := range wanted {
		if p.planned[nbr] {
			continue
		}
		p.planned[nbr] = true
		old := prev[nbr]
		if old != nil && !old.ObservedAt.Before(observedAt) {
			p.result.Stale++
			continue
		}
		next, ok := found[nbr]
		if !ok {
			notFound = append(notFound, nbr)
			continue
		}
		if next.Subject == "" {
			next.Subject = obs.Course.Subject
		}
		if next.CatalogNbr == "" {
			next.CatalogNbr = obs.Course.CatalogNbr
		}
		if next.Status == catalog.StatusUnknown && old != nil && old.Section.Status != catalog.StatusUnknown {
			// A read without seat counts keeps the last known ones: it is
			// no evidence that seats changed, and the next read with counts
			// is compared with what was last known.
			next.Capacity, next.Enrolled, next.Status = old.Section.Capacity, old.Section.Enrolled, old.Section.Status
			next.NonReservedOpen, next.ReservedGroups = old.Section.NonReservedOpen, old.Section.ReservedGroups
		}
		key := next.Key()
		p.result.Applied++

		var prevSection *catalog.Section
		changed, changedAt, seatEpoch, instructorEpoch := true, observedAt, 0, 0
		if old != nil {
			prevSection = detectBasis(old)
			seatEpoch, instructorEpoch = old.SeatEpoch, old.InstructorEpoch
			if old.NotFoundAt == nil && sameVisible(old.Section, next) {
				changed, changedAt = false, old.ChangedAt
			}
		}
		if !changed {
			// Nothing a user sees changed, so neither can an event fire.
			p.unchanged = append(p.unchanged, nbr)
			continue
		}
		p.result.Changed = append(p.result.Changed, key)
		if catalog.ReservedOpened(prevSection, next) {
			// Claimed only by the watches that asked for reserved seats.
			seatEpoch++
			p.claim(nbr, catalog.EventSeatAvailable, seatEpoch, old.ObservedAt, true)
		}
		for _, ev := range catalog.Detect(prevSection, next) {
			epoch := 0
			switch ev {
			case catalog.EventSeatAvailable:
				seatEpoch++
				epoch = seatEpoch
			case catalog.EventInstructorAssigned:
				instructorEpoch++
				epoch = instructorEpoch
			default:
				return fmt.Errorf("section %s: unknown event %q", key, ev)
			}
			p.claim(nbr, ev, epoch, old.ObservedAt, false)
		}
		if err := p.states.add(next, changedAt, seatEpoch, instructorEpoch); err != nil {
			return err
		}
		if old == nil || old.Section.Capacity != next.Capacity || old.Section.Enrolled != next.Enrolled || old.OpenSeats != next.OpenSeats() {
			p.histNbr = append(p.histNbr, nbr)
			p.histOpen = append(p.histOpen, int32(next.OpenSeats()))
			p.histCapacity = append(p.histCapacity, int32(next.Capacity))
			p.histEnrolled = append(p.histEnrolled, int32(next.Enrolled))
		}
	}
	if len(notFound) > 0 {
		p.notFound = append(p.notFound, courseNotFound{course: obs.Course, nbrs: notFound})
		p.result.NotFound += len(notFound)
	}
	return nil
}

// claim adds a claim of event ev at epoch, detected against a baseline
// observed at baseline, for every watch of section nbr, or only for those
// that asked for reserved seats when reservedOnly.
func (p *applyPlan) claim(nbr string, ev catalog.Event, epoch int, baseline time.Time, reservedOnly bool) {
	p.claimNbr = append(p.claimNbr, nbr)
	p.claimEvent = append(p.claimEvent, string(ev))
	p.claimEpoch = append(p.claimEpoch, int32(epoch))
	p.claimBaseline = append(p.claimBaseline, baseline)
	p.claimReservedOnly = append(p.claimReservedOnly, reservedOnly)
}

// detectBasis is the stored observation events are detected against: when
// its seats open to everyone are unknown (its reserved groups could not be
// read), the latest known count stands in, so an opening is still detected
// once the groups are read.
func detectBasis(old *SectionState) *catalog.Section {
	prev := old.Section
	if _, ok := prev.GeneralOpen(); !ok && old.GeneralOpen != nil {
		n := *old.GeneralOpen
		prev.NonReservedOpen = &n
	}
	return &prev
}

// writePlan sends every write of ApplyCourse and the COMMIT in one batch.
func writePlan(ctx context.Context, conn *pgxpool.Conn, term string, observedAt time.Time, baselineMaxAge time.Duration, p *applyPlan) error {
	var b pgx.Batch
	if len(p.states.classNbr) > 0 {
		b.Queue(upsertStatesSQL, p.states.args(term, observedAt)...)
	}
	if len(p.unchanged) > 0 {
		b.Queue(touchStatesSQL, term, observedAt, p.unchanged)
	}
	if found := append(slices.Clip(p.states.classNbr), p.unchanged...); len(found) > 0 {
		b.Queue(clearWatchNotFoundSQL, term, found)
	}
	if len(p.histNbr) > 0 {
		b.Queue(insertSeatHistorySQL, term, observedAt, p.histNbr, p.histOpen, p.histCapacity, p.histEnrolled)
	}
	if len(p.claimNbr) > 0 {
		seen := map[string]bool{}
		collect := func(count *int) func(rows pgx.Rows) error {
			return func(rows pgx.Rows) error {
				for rows.Next() {
					var nbr string
					if err := rows.Scan(&nbr); err != nil {
						return err
					}
					*count++
					if !seen[nbr] {
						seen[nbr] = true
						p.result.Notify = append(p.result.Notify, catalog.SectionKey{Term: term, ClassNbr: nbr})
					}
				}
				return rows.Err()
			}
		}
		staleBefore := observedAt.Add(-baselineMaxAge)
		b.Queue(insertClaimsSQL, term, p.claimNbr, p.claimEvent, p.claimEpoch, staleBefore, p.claimBaseline, p.claimReservedOnly).Query(collect(&p.result.Claims))
		b.Queue(insertChannelClaimsSQL, term, p.claimNbr, p.claimEvent, p.claimEpoch, staleBefore, p.claimBaseline, p.claimReservedOnly).Query(collect(&p.result.ChannelClaims))
	}
	for _, nf := range p.notFound {
		b.Queue(markStateNotFoundSQL, term, observedAt, nf.nbrs, nf.course.Subject, nf.course.CatalogNbr)
		b.Queue(markWatchNotFoundSQL, term, nf.nbrs, nf.course.Subject, nf.course.CatalogNbr)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("write section states: %w", err)
	}
	slices.SortFunc(p.result.Notify, func(a, b catalog.SectionKey) int { return strings.Compare(a.ClassNbr, b.ClassNbr) })
	return nil
}

// sameVisible reports whether two observations look the same to a user.
func sameVisible(a, b catalog.Section) bool {
	a.Instructors, b.Instructors = nonNil(a.Instructors), nonNil(b.Instructors)
	a.Meetings, b.Meetings = nonNil(a.Meetings), nonNil(b.Meetings)
	a.ReservedGroups, b.ReservedGroups = nonNil(a.ReservedGroups), nonNil(b.ReservedGroups)
	// The source's own identifiers are not stored, so not compared.
	a.Offering, b.Offering = catalog.Offering{}, catalog.Offering{}
	return reflect.DeepEqual(a, b)
}

// nonNil makes nil and empty slices compare and encode alike ("[]", not
// "null").
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
