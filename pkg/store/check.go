package store

import (
	"context"
	"encoding/json"
	"fmt"
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
	// WholeCourse is set when a course or linked watch needs every
	// section of the course, not only ClassNbrs.
	WholeCourse bool
}

const dueCoursesSQL = `
SELECT w.term, w.subject, w.catalog_nbr,
	coalesce(array_agg(DISTINCT w.class_nbr ORDER BY w.class_nbr) FILTER (WHERE w.kind <> 'course'), '{}'),
	count(*), count(DISTINCT w.class_nbr) FILTER (WHERE s.open_seats <= 0), max(s.changed_at),
	bool_or(w.kind <> 'section')
FROM class_watches w
JOIN users u ON u.id = w.user_id
LEFT JOIN section_states s ON s.term = w.term AND s.class_nbr = w.class_nbr
WHERE (w.not_found_at IS NULL OR w.not_found_at < now() - interval '` + notFoundRecheck + `')
  AND w.expired_at IS NULL
  AND ` + alertableUser + `
GROUP BY w.term, w.subject, w.catalog_nbr
ORDER BY w.term, w.subject, w.catalog_nbr`

// DueCourses returns every course with at least one live (not expired) watch
// of an eligible user that is not marked not found in the last six hours,
// ordered by term, subject and catalog number. Course watches of a course
// watched by section too share its check: one request covers both.
func (db *DB) DueCourses(ctx context.Context) ([]DueCourse, error) {
	rows, err := db.pool.Query(ctx, dueCoursesSQL)
	if err != nil {
		return nil, fmt.Errorf("due courses: %w", err)
	}
	courses, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueCourse, error) {
		var c DueCourse
		var changed *time.Time
		err := row.Scan(&c.Course.Term, &c.Course.Subject, &c.Course.CatalogNbr, &c.ClassNbrs, &c.Watchers, &c.Full, &changed, &c.WholeCourse)
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
	// WholeCourse says Sections is the whole course, as course and linked
	// watches need: every section of it is stored, a stored one missing
	// from it is not found, and the course's course and linked watches are
	// evaluated on it.
	WholeCourse bool
}

// size is how many sections applying o locks, about.
func (o CourseObservation) size() int {
	if o.WholeCourse {
		return max(len(o.Wanted), len(o.Sections))
	}
	return len(o.Wanted)
}

// ApplyResult says what ApplyCourse did.
type ApplyResult struct {
	Applied  int // wanted sections whose observation was stored
	Stale    int // wanted sections skipped because a newer observation is stored
	NotFound int // wanted sections missing from the source's answer
	Claims   int // notification claims created
	// ChannelClaims counts channel delivery claims created.
	ChannelClaims int
	// Watches counts course and linked watches evaluated.
	Watches int
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

// lockSectionsSQL locks each wanted section and each course checked whole
// (courseLockKey), in a stable order so two workers never deadlock. Row locks alone would not do: a section seen for the first
// time has no row yet, and two concurrent first observations must still be
// ordered so the later one sees the earlier one as prev.
const lockSectionsSQL = `
SELECT count(pg_advisory_xact_lock($3::int, hashtext($1 || ':' || nbr)))
FROM (SELECT DISTINCT unnest($2::text[]) AS nbr ORDER BY 1) AS s`

const readStatesSQL = `SELECT ` + stateColumns + `
FROM section_states s WHERE s.term = $1 AND s.class_nbr = ANY($2::text[])`

// readCourseStatesSQL reads every stored section of the courses checked
// whole ($2 subjects, $3 catalog numbers). It is a query of its own: joined
// to readStatesSQL by OR, PostgreSQL would no longer look the class numbers
// up by key.
const readCourseStatesSQL = `SELECT ` + stateColumns + `
FROM section_states s WHERE s.term = $1 AND (s.subject, s.catalog_nbr) IN (SELECT * FROM unnest($2::text[], $3::text[]))`

// readWatchesSQL reads, and locks until the transaction ends, the live
// course and linked watches of the courses checked whole.
const readWatchesSQL = `
SELECT w.id, w.kind, w.class_nbr, w.subject, w.catalog_nbr, w.filters, w.notify_reserved, w.notify_gone,
	w.created_at, w.baselined, w.alert_epoch, w.alert_open, w.alert_nbrs
FROM class_watches w
WHERE w.term = $1 AND w.kind <> 'section' AND w.expired_at IS NULL
  AND (w.subject, w.catalog_nbr) IN (SELECT * FROM unnest($2::text[], $3::text[]))
ORDER BY w.id
FOR UPDATE`

// updateWatchesSQL writes what course and linked watches remember.
const updateWatchesSQL = `
UPDATE class_watches w SET baselined = true, alert_epoch = x.epoch, alert_open = x.open,
	alert_nbrs = string_to_array(x.nbrs, ',')
FROM unnest($1::bigint[], $2::int[], $3::bool[], $4::text[]) AS x(id, epoch, open, nbrs)
WHERE w.id = x.id`

// goneAlerted is the condition that a seat_gone claim of event e (epoch)
// follows an alert the watch aliased w was sent for that opening: the
// notice is about seats the watcher was told of, or nothing.
const goneAlerted = `(e.event <> 'seat_gone' OR w.notify_gone AND EXISTS (
	SELECT 1 FROM notifications p WHERE p.watch_id = w.id AND p.event = 'seat_available' AND p.epoch = e.epoch AND p.status = 'sent'))`

// insertWatchClaimsSQL claims the alerts of course and linked watches,
// decided in Go (catalog.Evaluate): $1 watch ids, $2 events, $3 epochs, $4
// the sections each names, comma-separated.
const insertWatchClaimsSQL = `
INSERT INTO notifications (watch_id, user_id, term, class_nbr, event, epoch, sections)
SELECT w.id, w.user_id, w.term, split_part(e.nbrs, ',', 1), e.event, e.epoch, string_to_array(e.nbrs, ',')
FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[]) AS e(watch_id, event, epoch, nbrs)
JOIN class_watches w ON w.id = e.watch_id
JOIN users u ON u.id = w.user_id
WHERE ` + eligibleUser + ` AND ` + unpaused + ` AND ` + goneAlerted + `
ON CONFLICT (watch_id, event, epoch) DO NOTHING
RETURNING class_nbr`

// upsertStatesSQL's WHERE repeats the staleness rule ApplyCourse already
// applied under the lock, so no code path can overwrite a newer observation.
var upsertStatesSQL = buildUpsertStatesSQL()

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
JOIN class_watches w ON w.term = $1 AND w.class_nbr = e.class_nbr AND w.kind = 'section'
JOIN users u ON u.id = w.user_id
WHERE ` + eligibleUser + ` AND ` + unpaused + ` AND ` + goneAlerted + `
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

// stateRow is what upsertStatesSQL writes for one section: the observation
// and what was decided about it.
type stateRow struct {
	s                          catalog.Section
	changedAt                  time.Time
	seatEpoch, instructorEpoch int
}

// stateColumn is a column of section_states that upsertStatesSQL writes
// from a stateRow.
type stateColumn struct {
	name  string // in section_states
	array string // SQL type of its unnest parameter
	cast  string // applied to the unnested value
	// visible marks what a user sees of a section: an observation whose
	// visible columns all equal the stored ones changes nothing but the
	// time it was observed, and no event can fire.
	visible bool
	// value is the column's value for r: a string, int32, bool, time or
	// nil (NULL), so two values compare with ==.
	value func(r stateRow) (any, error)
	// set is the column's ON CONFLICT assignment when it is not simply
	// the new value.
	set string
}

// upsertColumns is the one list that upsertStatesSQL, its arguments and
// sameVisible are built from. Term and observed_at are parameters of the
// whole batch; not_found_at is cleared.
var upsertColumns = []stateColumn{
	{"class_nbr", "text[]", "", true, func(r stateRow) (any, error) { return r.s.ClassNbr, nil }, ""},
	{"subject", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Subject, nil }, ""},
	{"catalog_nbr", "text[]", "", true, func(r stateRow) (any, error) { return r.s.CatalogNbr, nil }, ""},
	{"section", "text[]", "", true, func(r stateRow) (any, error) { return r.s.SectionCode, nil }, ""},
	{"title", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Title, nil }, ""},
	{"instructors", "text[]", "::jsonb", true, func(r stateRow) (any, error) { return jsonText(nonNil(r.s.Instructors)) }, ""},
	{"capacity", "int[]", "", true, func(r stateRow) (any, error) { return int32(r.s.Capacity), nil }, ""},
	{"enrolled", "int[]", "", true, func(r stateRow) (any, error) { return int32(r.s.Enrolled), nil }, ""},
	{"open_seats", "int[]", "", true, func(r stateRow) (any, error) { return int32(r.s.OpenSeats()), nil }, ""},
	{"status", "text[]", "", true, func(r stateRow) (any, error) { return string(r.s.Status), nil }, ""},
	{"has_reserved_seats", "bool[]", "", true, func(r stateRow) (any, error) { return r.s.HasReservedSeats, nil }, ""},
	{"non_reserved_open", "int[]", "", true, func(r stateRow) (any, error) {
		if r.s.NonReservedOpen == nil {
			return nil, nil
		}
		return int32(*r.s.NonReservedOpen), nil
	}, ""},
	{"campus", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Campus, nil }, ""},
	{"location", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Location, nil }, ""},
	{"online", "bool[]", "", true, func(r stateRow) (any, error) { return r.s.Online, nil }, ""},
	{"mode", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Mode, nil }, ""},
	{"session", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Session, nil }, ""},
	{"meetings", "text[]", "::jsonb", true, func(r stateRow) (any, error) { return jsonText(nonNil(r.s.Meetings)) }, ""},
	{"component", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Component, nil }, ""},
	{"association", "text[]", "", true, func(r stateRow) (any, error) { return r.s.Association, nil }, ""},
	{"is_primary", "bool[]", "", true, func(r stateRow) (any, error) { return r.s.Primary, nil }, ""},
	{"enroll_deadline", "timestamptz[]", "", true, func(r stateRow) (any, error) {
		if r.s.EnrollDeadline.IsZero() {
			return nil, nil
		}
		return r.s.EnrollDeadline.UTC().Truncate(time.Microsecond), nil
	}, ""},
	{"changed_at", "timestamptz[]", "", false, func(r stateRow) (any, error) { return r.changedAt, nil }, ""},
	{"seat_epoch", "int[]", "", false, func(r stateRow) (any, error) { return int32(r.seatEpoch), nil }, ""},
	{"instructor_epoch", "int[]", "", false, func(r stateRow) (any, error) { return int32(r.instructorEpoch), nil }, ""},
	// The reserved groups are known only with the seats open to everyone.
	{"reserved_groups", "text[]", "::jsonb", true, func(r stateRow) (any, error) {
		if r.s.NonReservedOpen == nil {
			return nil, nil
		}
		return jsonText(nonNil(r.s.ReservedGroups))
	}, ""},
	// A read that cannot tell the seats open to everyone keeps the last
	// known count.
	{"general_open", "int[]", "", true, func(r stateRow) (any, error) {
		if n, ok := r.s.GeneralOpen(); ok {
			return int32(n), nil
		}
		return nil, nil
	}, "general_open = COALESCE(EXCLUDED.general_open, st.general_open)"},
}

// buildUpsertStatesSQL writes the upsert of a batch of sections from
// upsertColumns: $1 is the term, $2 the observation time, and $3 onwards one
// array per column. Its WHERE repeats the staleness rule ApplyCourse already
// applied under the lock, so no code path can overwrite a newer
// observation.
func buildUpsertStatesSQL() string {
	var names, params, values, sets []string
	for i, c := range upsertColumns {
		names = append(names, c.name)
		params = append(params, fmt.Sprintf("$%d::%s", i+3, c.array))
		values = append(values, "x."+c.name+c.cast)
		switch {
		case c.set != "":
			sets = append(sets, c.set)
		case c.name != "class_nbr":
			sets = append(sets, c.name+" = EXCLUDED."+c.name)
		}
	}
	return `
INSERT INTO section_states AS st (term, ` + strings.Join(names, ", ") + `, observed_at, not_found_at)
SELECT $1, ` + strings.Join(values, ", ") + `, $2, NULL
FROM unnest(` + strings.Join(params, ", ") + `) AS x(` + strings.Join(names, ", ") + `)
ON CONFLICT (term, class_nbr) DO UPDATE SET ` + strings.Join(sets, ", ") + `,
	observed_at = EXCLUDED.observed_at, not_found_at = NULL
WHERE st.observed_at < EXCLUDED.observed_at`
}

// jsonText is v encoded as JSON text.
func jsonText(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// stateRows collects the arguments of upsertStatesSQL, one array per
// column.
type stateRows struct {
	classNbr []string
	columns  [][]any
}

func (r *stateRows) add(row stateRow) error {
	vals := make([]any, len(upsertColumns))
	for i, c := range upsertColumns {
		v, err := c.value(row)
		if err != nil {
			return fmt.Errorf("encode %s of %s: %w", c.name, row.s.Key(), err)
		}
		vals[i] = v
	}
	if r.columns == nil {
		r.columns = make([][]any, len(upsertColumns))
	}
	for i, v := range vals {
		r.columns[i] = append(r.columns[i], v)
	}
	r.classNbr = append(r.classNbr, row.s.ClassNbr)
	return nil
}

func (r *stateRows) args(term string, observedAt time.Time) []any {
	args := make([]any, 0, 2+len(r.columns))
	args = append(args, term, observedAt)
	for _, col := range r.columns {
		args = append(args, col)
	}
	return args
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
	// courses holds each course checked whole, as the batch leaves it.
	courses                     map[catalog.CourseKey][]catalog.SectionChange
	watchID, claimWatch         []int64
	watchEpoch, claimWatchEpoch []int32
	watchOpen                   []bool
	watchNbrs, claimWatchNbrs   []string
	claimWatchEvent             []string
}

// liveWatch is a course or linked watch read, locked, by applyBatch.
type liveWatch struct {
	id     int64
	course catalog.CourseKey
	rule   catalog.WatchRule
	state  catalog.WatchState
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
		for n < len(obs) && (n == 0 || size+obs[n].size() <= maxApplyBatch && obs[n].ObservedAt.Equal(obs[0].ObservedAt)) {
			size += obs[n].size()
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
		total.Watches += res.Watches
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
	var all, locks, wholeSubjects, wholeCatalogs []string
	for i, o := range obs {
		if o.Course.Term == "" || o.ObservedAt.IsZero() {
			return ApplyResult{}, fmt.Errorf("%s: term and observed-at are required", op)
		}
		if o.Course.Term != term || !o.ObservedAt.Equal(obs[0].ObservedAt) {
			return ApplyResult{}, fmt.Errorf("%s: course %s is of another term or time", op, o.Course)
		}
		w := slices.Clone(o.Wanted)
		if o.WholeCourse {
			for _, sec := range o.Sections {
				if sec.Term == term && sameCourse(sec, o.Course) {
					w = append(w, sec.ClassNbr)
				}
			}
			wholeSubjects = append(wholeSubjects, o.Course.Subject)
			wholeCatalogs = append(wholeCatalogs, o.Course.CatalogNbr)
			// The course's lock covers its stored sections missing from
			// the check, and its course and linked watches.
			locks = append(locks, courseLockKey(o.Course))
		}
		slices.Sort(w)
		wantedBy[i] = slices.Compact(w)
		all = append(all, wantedBy[i]...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 && len(wholeSubjects) == 0 {
		return ApplyResult{}, nil
	}
	locks = append(locks, all...)
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
		prev, watches, err := readLocked(ctx, conn, term, locks, all, wholeSubjects, wholeCatalogs)
		if err != nil {
			return applyPlan{}, err
		}
		var plan applyPlan
		for i, o := range obs {
			if o.WholeCourse {
				// Every stored section of the course is part of the check:
				// one missing from it is gone.
				for nbr, st := range prev {
					if sameCourse(st.Section, o.Course) {
						wantedBy[i] = append(wantedBy[i], nbr)
					}
				}
				slices.Sort(wantedBy[i])
				wantedBy[i] = slices.Compact(wantedBy[i])
			}
			if err := planApply(&plan, o, wantedBy[i], observedAt, prev); err != nil {
				return applyPlan{}, err
			}
		}
		plan.evaluate(watches, observedAt.Add(-db.baselineMaxAge))
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

// readLocked begins the transaction, takes the locks, and returns the
// stored states of the wanted sections and of every section of the courses
// checked whole, by class number, and those courses' live course and
// linked watches, in one round trip.
func readLocked(ctx context.Context, conn *pgxpool.Conn, term string, locks, wanted, wholeSubjects, wholeCatalogs []string) (map[string]*SectionState, []liveWatch, error) {
	prev := make(map[string]*SectionState, len(wanted))
	var watches []liveWatch
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(lockSectionsSQL, term, locks, sectionLockSpace)
	readStates := func(rows pgx.Rows) error {
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
	}
	b.Queue(readStatesSQL, term, wanted).Query(readStates)
	if len(wholeSubjects) > 0 {
		b.Queue(readCourseStatesSQL, term, wholeSubjects, wholeCatalogs).Query(readStates)
		b.Queue(readWatchesSQL, term, wholeSubjects, wholeCatalogs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				w := liveWatch{course: catalog.CourseKey{Term: term}}
				var filter []byte
				if err := rows.Scan(&w.id, &w.rule.Kind, &w.rule.ClassNbr, &w.course.Subject, &w.course.CatalogNbr, &filter,
					&w.rule.NotifyReserved, &w.rule.NotifyGone, &w.rule.CreatedAt,
					&w.state.Baselined, &w.state.Epoch, &w.state.Open, &w.state.Nbrs); err != nil {
					return err
				}
				if err := json.Unmarshal(filter, &w.rule.Filter); err != nil {
					return fmt.Errorf("filter of watch %d: %w", w.id, err)
				}
				watches = append(watches, w)
			}
			return rows.Err()
		})
	}
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("read section states: %w", err)
	}
	return prev, watches, nil
}

// courseLockKey is the lock key of a course, beside the class numbers.
func courseLockKey(k catalog.CourseKey) string {
	return "course " + strings.ToUpper(k.Subject) + " " + strings.ToUpper(k.CatalogNbr)
}

// sameCourse reports whether s is a section of course k (an empty subject
// or catalog number, which the source may leave out, counts as k's).
func sameCourse(s catalog.Section, k catalog.CourseKey) bool {
	return (s.Subject == "" || strings.EqualFold(s.Subject, k.Subject)) &&
		(s.CatalogNbr == "" || strings.EqualFold(s.CatalogNbr, k.CatalogNbr))
}

// evaluate decides, for each course or linked watch of a course checked
// whole, its new state and the alerts it claims.
func (p *applyPlan) evaluate(watches []liveWatch, staleBefore time.Time) {
	for _, w := range watches {
		changes, ok := p.courses[courseOf(w.course)]
		if !ok {
			continue
		}
		p.result.Watches++
		out := catalog.Evaluate(w.rule, w.state, changes, staleBefore)
		if len(out.Alert) > 0 {
			p.claimFor(w.id, catalog.EventSeatAvailable, out.State.Epoch, out.Alert)
		}
		if out.Gone {
			p.claimFor(w.id, catalog.EventSeatGone, w.state.Epoch, w.state.Nbrs)
		}
		if out.State.Baselined != w.state.Baselined || out.State.Epoch != w.state.Epoch ||
			out.State.Open != w.state.Open || !slices.Equal(out.State.Nbrs, w.state.Nbrs) {
			p.watchID = append(p.watchID, w.id)
			p.watchEpoch = append(p.watchEpoch, int32(out.State.Epoch))
			p.watchOpen = append(p.watchOpen, out.State.Open)
			p.watchNbrs = append(p.watchNbrs, strings.Join(out.State.Nbrs, ","))
		}
	}
}

// claimFor adds a claim of a course or linked watch naming nbrs.
func (p *applyPlan) claimFor(watchID int64, ev catalog.Event, epoch int, nbrs []string) {
	p.claimWatch = append(p.claimWatch, watchID)
	p.claimWatchEvent = append(p.claimWatchEvent, string(ev))
	p.claimWatchEpoch = append(p.claimWatchEpoch, int32(epoch))
	p.claimWatchNbrs = append(p.claimWatchNbrs, strings.Join(nbrs, ","))
}

// courseOf is k with its subject and catalog number upper-cased, the key
// of applyPlan.courses.
func courseOf(k catalog.CourseKey) catalog.CourseKey {
	k.Subject, k.CatalogNbr = strings.ToUpper(k.Subject), strings.ToUpper(k.CatalogNbr)
	return k
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
		p.courses = map[catalog.CourseKey][]catalog.SectionChange{}
	}
	// changes records the course as this check leaves it, for its course
	// and linked watches.
	var changes []catalog.SectionChange
	record := func(c catalog.SectionChange) {
		if obs.WholeCourse {
			changes = append(changes, c)
		}
	}
	if obs.WholeCourse {
		defer func() { p.courses[courseOf(obs.Course)] = changes }()
	}
	for _, nbr := range wanted {
		if p.planned[nbr] {
			continue
		}
		p.planned[nbr] = true
		old := prev[nbr]
		if old != nil && !old.ObservedAt.Before(observedAt) {
			p.result.Stale++
			record(catalog.SectionChange{Prev: &old.Section, Cur: old.Section, Missing: old.NotFoundAt != nil, BaselineAt: old.ObservedAt})
			continue
		}
		next, ok := found[nbr]
		if !ok {
			notFound = append(notFound, nbr)
			if old != nil {
				record(catalog.SectionChange{Prev: &old.Section, Cur: old.Section, Missing: true, BaselineAt: old.ObservedAt})
			}
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
		change := catalog.SectionChange{Cur: next}
		if old != nil {
			prevSection = detectBasis(old)
			seatEpoch, instructorEpoch = old.SeatEpoch, old.InstructorEpoch
			if old.NotFoundAt == nil && sameVisible(old.Section, next) {
				changed, changedAt = false, old.ChangedAt
			}
			if old.NotFoundAt == nil {
				// A section back from missing is new to its course watches.
				change.Prev, change.BaselineAt = prevSection, old.ObservedAt
			}
		}
		record(change)
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
		if catalog.SeatGone(prevSection, next) {
			// Claimed only by the watches that asked, and were alerted
			// about this opening.
			p.claim(nbr, catalog.EventSeatGone, seatEpoch, old.ObservedAt, false)
		}
		if err := p.states.add(stateRow{s: next, changedAt: changedAt, seatEpoch: seatEpoch, instructorEpoch: instructorEpoch}); err != nil {
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
	if len(p.claimNbr) > 0 {
		staleBefore := observedAt.Add(-baselineMaxAge)
		b.Queue(insertClaimsSQL, term, p.claimNbr, p.claimEvent, p.claimEpoch, staleBefore, p.claimBaseline, p.claimReservedOnly).Query(collect(&p.result.Claims))
		b.Queue(insertChannelClaimsSQL, term, p.claimNbr, p.claimEvent, p.claimEpoch, staleBefore, p.claimBaseline, p.claimReservedOnly).Query(collect(&p.result.ChannelClaims))
	}
	if len(p.watchID) > 0 {
		b.Queue(updateWatchesSQL, p.watchID, p.watchEpoch, p.watchOpen, p.watchNbrs)
	}
	if len(p.claimWatch) > 0 {
		b.Queue(insertWatchClaimsSQL, p.claimWatch, p.claimWatchEvent, p.claimWatchEpoch, p.claimWatchNbrs).Query(collect(&p.result.Claims))
		b.Queue(insertWatchChannelClaimsSQL, p.claimWatch, p.claimWatchEvent, p.claimWatchEpoch, p.claimWatchNbrs).Query(collect(&p.result.ChannelClaims))
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

// sameVisible reports whether two observations of a section look the same
// to a user: every visible column of upsertColumns is equal. The source's
// own identifiers (Offering) are neither stored nor compared.
func sameVisible(a, b catalog.Section) bool {
	for _, c := range upsertColumns {
		if !c.visible {
			continue
		}
		va, errA := c.value(stateRow{s: a})
		vb, errB := c.value(stateRow{s: b})
		if errA != nil || errB != nil || va != vb {
			return false
		}
	}
	return true
}

// nonNil makes nil and empty slices compare and encode alike ("[]", not
// "null").
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
