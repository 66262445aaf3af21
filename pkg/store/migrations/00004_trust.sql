-- +goose Up

-- Account email (verification, password reset, notices) is queued here by
-- the request that causes it and sent by a background sender, so a request
-- never waits on SMTP and answers in the same time whether or not an
-- account exists. A row is deleted once sent: its body may hold a one-time
-- link. expires_at drops mail whose link would be dead on arrival.
CREATE TABLE mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_addr         text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL DEFAULT '',
    html_body       text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);

-- A session's public handle for the session list: the primary key is the
-- hash of the browser's secret and never leaves the server.
ALTER TABLE sessions ADD COLUMN handle bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX sessions_handle_key ON sessions (handle);

-- A deleted account keeps its row until it is purged, but not its email:
-- the address may register again at once.
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_live_email_key ON users (email) WHERE deleted_at IS NULL;

-- +goose Down
DROP INDEX users_live_email_key;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
DROP INDEX sessions_handle_key;
ALTER TABLE sessions DROP COLUMN handle;
DROP TABLE mail_outbox;
