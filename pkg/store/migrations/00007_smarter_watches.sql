-- +goose Up

-- A watch is of one section (kind 'section'), of any section of a course
-- that passes its filter (kind 'course', class_nbr empty), or of a lecture
-- together with its labs (kind 'linked', class_nbr the lecture).
ALTER TABLE class_watches
    ADD COLUMN kind text NOT NULL DEFAULT 'section' CHECK (kind IN ('section', 'course', 'linked')),
    ADD COLUMN filters jsonb NOT NULL DEFAULT '{}',
    -- notify_gone asks for one short notice when the seats alerted about
    -- are taken again.
    ADD COLUMN notify_gone boolean NOT NULL DEFAULT false,
    -- No alert is claimed for the watch before paused_until.
    ADD COLUMN paused_until timestamptz,
    -- expired_at is when the watch stopped at its enrollment deadline;
    -- an expired watch is not checked and does not count toward the limit.
    ADD COLUMN expired_at timestamptz,
    -- What a course or linked watch remembers between checks
    -- (catalog.WatchState): alert_epoch counts its alerts, alert_open says
    -- the last one still holds, alert_nbrs are the sections it named.
    ADD COLUMN baselined boolean NOT NULL DEFAULT false,
    ADD COLUMN alert_epoch integer NOT NULL DEFAULT 0,
    ADD COLUMN alert_open boolean NOT NULL DEFAULT false,
    ADD COLUMN alert_nbrs text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT class_watches_kind_nbr_check CHECK ((kind = 'course') = (class_nbr = ''));
ALTER TABLE class_watches DROP CONSTRAINT class_watches_user_section_key;
CREATE UNIQUE INDEX class_watches_user_section_key ON class_watches (user_id, term, kind, class_nbr) WHERE kind <> 'course';
CREATE UNIQUE INDEX class_watches_user_course_key ON class_watches (user_id, term, subject, catalog_nbr) WHERE kind = 'course';
-- The unique key that served a user's watches is partial now.
CREATE INDEX class_watches_user_id_idx ON class_watches (user_id);
CREATE INDEX class_watches_live_idx ON class_watches (term, subject, catalog_nbr) WHERE kind <> 'section' AND expired_at IS NULL;

-- Pauses every alert of the user until then.
ALTER TABLE users ADD COLUMN alerts_paused_until timestamptz;

ALTER TABLE section_states
    ADD COLUMN component       text NOT NULL DEFAULT '',
    ADD COLUMN association     text NOT NULL DEFAULT '',
    ADD COLUMN is_primary      boolean NOT NULL DEFAULT false,
    ADD COLUMN enroll_deadline timestamptz;
CREATE INDEX section_states_course_idx ON section_states (term, subject, catalog_nbr);

-- sections lists what a course or linked alert names; class_nbr is the
-- first of them.
ALTER TABLE notifications DROP CONSTRAINT notifications_event_check,
    ADD CONSTRAINT notifications_event_check CHECK (event IN ('seat_available', 'instructor_assigned', 'seat_gone')),
    ADD COLUMN sections text[] NOT NULL DEFAULT '{}';
ALTER TABLE channel_deliveries DROP CONSTRAINT channel_deliveries_event_check,
    ADD CONSTRAINT channel_deliveries_event_check CHECK (event IN ('seat_available', 'instructor_assigned', 'seat_gone')),
    ADD COLUMN sections text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE channel_deliveries DROP COLUMN sections, DROP CONSTRAINT channel_deliveries_event_check,
    ADD CONSTRAINT channel_deliveries_event_check CHECK (event IN ('seat_available', 'instructor_assigned'));
ALTER TABLE notifications DROP COLUMN sections, DROP CONSTRAINT notifications_event_check,
    ADD CONSTRAINT notifications_event_check CHECK (event IN ('seat_available', 'instructor_assigned'));
DROP INDEX section_states_course_idx;
ALTER TABLE section_states DROP COLUMN enroll_deadline, DROP COLUMN is_primary, DROP COLUMN association, DROP COLUMN component;
ALTER TABLE users DROP COLUMN alerts_paused_until;
DROP INDEX class_watches_live_idx;
DROP INDEX class_watches_user_id_idx;
DROP INDEX class_watches_user_course_key;
DROP INDEX class_watches_user_section_key;
DELETE FROM class_watches WHERE kind <> 'section';
ALTER TABLE class_watches ADD CONSTRAINT class_watches_user_section_key UNIQUE (user_id, term, class_nbr);
ALTER TABLE class_watches DROP CONSTRAINT class_watches_kind_nbr_check,
    DROP COLUMN alert_nbrs, DROP COLUMN alert_open, DROP COLUMN alert_epoch, DROP COLUMN baselined,
    DROP COLUMN expired_at, DROP COLUMN paused_until, DROP COLUMN notify_gone, DROP COLUMN filters, DROP COLUMN kind;
