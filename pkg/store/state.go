package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// SectionState is the last accepted observation of a section.
type SectionState struct {
	Section catalog.Section
	// OpenSeats is Section.OpenSeats() as computed when it was stored.
	OpenSeats  int
	ObservedAt time.Time
	// ChangedAt is when a user-visible field last changed.
	ChangedAt time.Time
	// SeatEpoch and InstructorEpoch count the seat_available and
	// instructor_assigned events seen so far.
	SeatEpoch       int
	InstructorEpoch int
	// NotFoundAt is set while the section is missing from its course.
	NotFoundAt *time.Time
	// GeneralOpen is the latest known count of seats open to everyone; it
	// outlives observations whose count is unknown.
	GeneralOpen *int
}

// SeatPoint is one entry of a section's seat history.
type SeatPoint struct {
	ObservedAt time.Time
	OpenSeats  int
	Capacity   int
	Enrolled   int
}

const stateColumns = `s.term, s.class_nbr, s.subject, s.catalog_nbr, s.section, s.title, s.instructors,
	s.capacity, s.enrolled, s.open_seats, s.status, s.has_reserved_seats, s.non_reserved_open,
	s.campus, s.location, s.online, s.mode, s.session, s.meetings,
	s.observed_at, s.changed_at, s.seat_epoch, s.instructor_epoch, s.not_found_at,
	s.reserved_groups, s.general_open, s.component, s.association, s.is_primary, s.enroll_deadline`

const getStateSQL = `SELECT ` + stateColumns + ` FROM section_states s WHERE s.term = $1 AND s.class_nbr = $2`

const seatHistorySQL = `
SELECT observed_at, open_seats, capacity, enrolled
FROM seat_history WHERE term = $1 AND class_nbr = $2
ORDER BY observed_at`

// nullableState scans stateColumns, which may all be NULL when the state is
// reached through a LEFT JOIN.
type nullableState struct {
	term, classNbr, subject, catalogNbr, section, title *string
	instructors, meetings                               []byte
	capacity, enrolled, openSeats                       *int
	status                                              *string
	hasReserved, online                                 *bool
	nonReserved                                         *int
	campus, location, mode, session                     *string
	observedAt, changedAt, notFoundAt                   *time.Time
	seatEpoch, instructorEpoch                          *int
	reservedGroups                                      []byte
	generalOpen                                         *int
	component, association                              *string
	primary                                             *bool
	enrollDeadline                                      *time.Time
}

func (n *nullableState) dest() []any {
	return []any{&n.term, &n.classNbr, &n.subject, &n.catalogNbr, &n.section, &n.title, &n.instructors,
		&n.capacity, &n.enrolled, &n.openSeats, &n.status, &n.hasReserved, &n.nonReserved,
		&n.campus, &n.location, &n.online, &n.mode, &n.session, &n.meetings,
		&n.observedAt, &n.changedAt, &n.seatEpoch, &n.instructorEpoch, &n.notFoundAt,
		&n.reservedGroups, &n.generalOpen, &n.component, &n.association, &n.primary, &n.enrollDeadline}
}

// state returns the scanned state, or nil when the row was absent.
func (n *nullableState) state() (*SectionState, error) {
	if n.term == nil {
		return nil, nil
	}
	st := &SectionState{
		Section: catalog.Section{
			Term: *n.term, ClassNbr: *n.classNbr, Subject: *n.subject, CatalogNbr: *n.catalogNbr,
			SectionCode: *n.section, Title: *n.title,
			Capacity: *n.capacity, Enrolled: *n.enrolled, Status: catalog.Status(*n.status),
			HasReservedSeats: *n.hasReserved, NonReservedOpen: n.nonReserved,
			Campus: *n.campus, Location: *n.location, Online: *n.online, Mode: *n.mode, Session: *n.session,
			Component: *n.component, Association: *n.association, Primary: *n.primary,
		},
		OpenSeats:       *n.openSeats,
		ObservedAt:      *n.observedAt,
		ChangedAt:       *n.changedAt,
		SeatEpoch:       *n.seatEpoch,
		InstructorEpoch: *n.instructorEpoch,
		NotFoundAt:      n.notFoundAt,
		GeneralOpen:     n.generalOpen,
	}
	if n.enrollDeadline != nil {
		st.Section.EnrollDeadline = *n.enrollDeadline
	}
	if err := json.Unmarshal(n.instructors, &st.Section.Instructors); err != nil {
		return nil, fmt.Errorf("decode instructors of %s:%s: %w", *n.term, *n.classNbr, err)
	}
	if err := json.Unmarshal(n.meetings, &st.Section.Meetings); err != nil {
		return nil, fmt.Errorf("decode meetings of %s:%s: %w", *n.term, *n.classNbr, err)
	}
	if n.reservedGroups != nil {
		if err := json.Unmarshal(n.reservedGroups, &st.Section.ReservedGroups); err != nil {
			return nil, fmt.Errorf("decode reserved groups of %s:%s: %w", *n.term, *n.classNbr, err)
		}
	}
	return st, nil
}

// GetSectionState returns the stored state of a section, or ErrNotFound when
// it has never been observed.
func (db *DB) GetSectionState(ctx context.Context, key catalog.SectionKey) (SectionState, error) {
	var n nullableState
	err := db.pool.QueryRow(ctx, getStateSQL, key.Term, key.ClassNbr).Scan(n.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return SectionState{}, fmt.Errorf("get section state %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return SectionState{}, fmt.Errorf("get section state %s: %w", key, err)
	}
	st, err := n.state()
	if err != nil {
		return SectionState{}, fmt.Errorf("get section state %s: %w", key, err)
	}
	return *st, nil
}

const sectionStatesSQL = `SELECT ` + stateColumns + `
FROM section_states s WHERE s.term = $1 AND s.class_nbr = ANY($2::text[])`

// SectionStates returns the stored states of some sections of a term, by
// class number; sections never observed are absent.
func (db *DB) SectionStates(ctx context.Context, term string, classNbrs []string) (map[string]*SectionState, error) {
	rows, err := db.pool.Query(ctx, sectionStatesSQL, term, classNbrs)
	if err != nil {
		return nil, fmt.Errorf("section states of term %s: %w", term, err)
	}
	defer rows.Close()
	out := make(map[string]*SectionState, len(classNbrs))
	for rows.Next() {
		var n nullableState
		if err := rows.Scan(n.dest()...); err != nil {
			return nil, fmt.Errorf("section states of term %s: %w", term, err)
		}
		st, err := n.state()
		if err != nil {
			return nil, fmt.Errorf("section states of term %s: %w", term, err)
		}
		out[st.Section.ClassNbr] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("section states of term %s: %w", term, err)
	}
	return out, nil
}

// SeatHistory returns a section's seat changes, oldest first.
func (db *DB) SeatHistory(ctx context.Context, key catalog.SectionKey) ([]SeatPoint, error) {
	rows, err := db.pool.Query(ctx, seatHistorySQL, key.Term, key.ClassNbr)
	if err != nil {
		return nil, fmt.Errorf("seat history %s: %w", key, err)
	}
	points, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SeatPoint, error) {
		var p SeatPoint
		err := row.Scan(&p.ObservedAt, &p.OpenSeats, &p.Capacity, &p.Enrolled)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("seat history %s: %w", key, err)
	}
	return points, nil
}

const (
	pruneStatesSQL = `
DELETE FROM section_states s
WHERE s.observed_at < $1
  AND NOT EXISTS (SELECT 1 FROM class_watches w WHERE w.term = s.term AND w.class_nbr = s.class_nbr)`
	pruneSeatHistorySQL = `
DELETE FROM seat_history h
WHERE h.observed_at < $1
  AND NOT EXISTS (SELECT 1 FROM class_watches w WHERE w.term = h.term AND w.class_nbr = h.class_nbr)`
)

// PruneSectionStates deletes the state and seat history of sections nobody
// watches that were last observed before before. Nobody's checks keep such
// a state fresh, so it is no one's baseline; a section watched again starts
// from its next observation.
func (db *DB) PruneSectionStates(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, pruneStatesSQL, before)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, pruneSeatHistorySQL, before)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune section states: %w", err)
	}
	return n, nil
}
