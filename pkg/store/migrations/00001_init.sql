-- +goose Up

-- Emails are stored lower-cased (enforced by the CHECK) so uniqueness is
-- case-insensitive without depending on the citext extension, which managed
-- PostgreSQL offerings do not always allow.
CREATE TABLE users (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email             text        NOT NULL CHECK (email <> '' AND email = lower(email)),
    password_hash     text        NOT NULL,
    verified_at       timestamptz,
    is_admin          boolean     NOT NULL DEFAULT false,
    disabled_at       timestamptz,
    deleted_at        timestamptz,
    notify_email      boolean     NOT NULL DEFAULT true,
    unsubscribed_at   timestamptz,
    bounced_at        timestamptz,
    complained_at     timestamptz,
    accepted_terms_at timestamptz,
    age_confirmed_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Session and token ids are stored as hashes: a database leak must not hand
-- out live sessions or password-reset links.
CREATE TABLE sessions (
    id           bytea       PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    user_agent   text        NOT NULL DEFAULT '',
    ip           text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE one_time_tokens (
    hash       bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX one_time_tokens_user_id_idx ON one_time_tokens (user_id, purpose);

-- One row per attempt, so lockout can use a sliding window by email and by IP
-- (the original kept a bare counter per email that never decayed).
CREATE TABLE login_attempts (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email   text        NOT NULL,
    ip      text        NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now(),
    success boolean     NOT NULL
);
CREATE INDEX login_attempts_email_at_idx ON login_attempts (email, at);
CREATE INDEX login_attempts_ip_at_idx ON login_attempts (ip, at);

CREATE TABLE class_watches (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    term         text        NOT NULL,
    class_nbr    text        NOT NULL,
    subject      text        NOT NULL,
    catalog_nbr  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    not_found_at timestamptz,
    CONSTRAINT class_watches_user_section_key UNIQUE (user_id, term, class_nbr)
);
CREATE INDEX class_watches_course_idx ON class_watches (term, subject, catalog_nbr);
CREATE INDEX class_watches_section_idx ON class_watches (term, class_nbr);

-- The last accepted observation of each section, shared by every watcher.
-- seat_epoch and instructor_epoch count the events seen so far; a claim is
-- unique per (watch, event, epoch), so a section that fills and opens again
-- re-arms its notification without deleting history.
CREATE TABLE section_states (
    term               text        NOT NULL,
    class_nbr          text        NOT NULL,
    subject            text        NOT NULL,
    catalog_nbr        text        NOT NULL,
    section            text        NOT NULL DEFAULT '',
    title              text        NOT NULL DEFAULT '',
    instructors        jsonb       NOT NULL DEFAULT '[]',
    capacity           integer     NOT NULL,
    enrolled           integer     NOT NULL,
    open_seats         integer     NOT NULL,
    status             text        NOT NULL,
    has_reserved_seats boolean     NOT NULL DEFAULT false,
    non_reserved_open  integer,
    campus             text        NOT NULL DEFAULT '',
    location           text        NOT NULL DEFAULT '',
    online             boolean     NOT NULL DEFAULT false,
    mode               text        NOT NULL DEFAULT '',
    session            text        NOT NULL DEFAULT '',
    meetings           jsonb       NOT NULL DEFAULT '[]',
    observed_at        timestamptz NOT NULL,
    changed_at         timestamptz NOT NULL,
    seat_epoch         integer     NOT NULL DEFAULT 0,
    instructor_epoch   integer     NOT NULL DEFAULT 0,
    not_found_at       timestamptz,
    PRIMARY KEY (term, class_nbr)
);

CREATE TABLE seat_history (
    term        text        NOT NULL,
    class_nbr   text        NOT NULL,
    observed_at timestamptz NOT NULL,
    open_seats  integer     NOT NULL,
    capacity    integer     NOT NULL,
    enrolled    integer     NOT NULL,
    PRIMARY KEY (term, class_nbr, observed_at)
);

-- A notification row is a claim: inserting it is what decides that a watcher
-- is told about one event, and its status records whether the email went out.
CREATE TABLE notifications (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    watch_id    bigint      NOT NULL REFERENCES class_watches (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    term        text        NOT NULL,
    class_nbr   text        NOT NULL,
    event       text        NOT NULL CHECK (event IN ('seat_available', 'instructor_assigned')),
    epoch       integer     NOT NULL,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    lease_until timestamptz,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    message_id  text        NOT NULL DEFAULT '',
    CONSTRAINT notifications_watch_event_epoch_key UNIQUE (watch_id, event, epoch)
);
-- Only pending rows are ever claimed, so the claim indexes stay small however
-- long the history grows.
CREATE INDEX notifications_pending_section_idx ON notifications (term, class_nbr) WHERE status = 'pending';
CREATE INDEX notifications_pending_id_idx ON notifications (id) WHERE status = 'pending';
CREATE INDEX notifications_user_id_idx ON notifications (user_id, created_at);

CREATE TABLE audit_log (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor_id bigint      REFERENCES users (id) ON DELETE SET NULL,
    action   text        NOT NULL,
    target   text        NOT NULL DEFAULT '',
    details  jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE notifications;
DROP TABLE seat_history;
DROP TABLE section_states;
DROP TABLE class_watches;
DROP TABLE login_attempts;
DROP TABLE one_time_tokens;
DROP TABLE sessions;
DROP TABLE users;
