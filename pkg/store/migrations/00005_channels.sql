-- +goose Up

-- Alert channels beside email: a browser push subscription, a Discord or
-- Slack incoming webhook, an ntfy topic or a signed generic webhook. config
-- holds the destination (pkg/channel.Config); secret is the webhook signing
-- secret, ntfy token or push auth secret, never shown again after creation
-- and redacted from exports. A channel gets alerts only once verified and
-- while not disabled; events lists which events it gets.
CREATE TABLE channels (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                 text        NOT NULL CHECK (kind IN ('webpush', 'discord', 'slack', 'ntfy', 'webhook')),
    label                text        NOT NULL DEFAULT '',
    config               jsonb       NOT NULL DEFAULT '{}',
    secret               text        NOT NULL DEFAULT '',
    events               text[]      NOT NULL DEFAULT '{seat_available,instructor_assigned}'
                                     CHECK (events <@ '{seat_available,instructor_assigned}'),
    verify_code_hash     bytea,
    verify_expires_at    timestamptz,
    verify_attempts      integer     NOT NULL DEFAULT 0,
    verified_at          timestamptz,
    disabled_at          timestamptz,
    disabled_reason      text        NOT NULL DEFAULT '',
    -- disabled_notified_at is when the owner was emailed about the disabling.
    disabled_notified_at timestamptz,
    -- retry_at holds every delivery of the channel back after a 429.
    retry_at             timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_user_id_idx ON channels (user_id);
-- One channel per browser subscription: subscribing again updates it.
CREATE UNIQUE INDEX channels_user_push_endpoint_key ON channels (user_id, (config ->> 'endpoint')) WHERE kind = 'webpush';
CREATE INDEX channels_disabled_unnotified_idx ON channels (id) WHERE disabled_at IS NOT NULL AND disabled_notified_at IS NULL;

-- A channel delivery is a claim like a notification row: one per (watch,
-- event, epoch, channel), inserted in the transaction that detects the
-- event, leased to one sender at a time, released with back-off on a
-- temporary failure. user_id is the watch's (and the channel's) owner,
-- copied for the claim query; it has no foreign key of its own: the watch's
-- and the channel's already remove the row with the user, and each foreign
-- key costs a lookup per row in the detecting transaction, which inserts a
-- row per watcher and channel at once.
CREATE TABLE channel_deliveries (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id  bigint      NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    watch_id    bigint      NOT NULL REFERENCES class_watches (id) ON DELETE CASCADE,
    user_id     bigint      NOT NULL,
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
    CONSTRAINT channel_deliveries_watch_event_epoch_channel_key UNIQUE (watch_id, event, epoch, channel_id)
);
CREATE INDEX channel_deliveries_pending_idx ON channel_deliveries (id) WHERE status = 'pending';
-- Also serves a channel's last delivery (max sent_at).
CREATE INDEX channel_deliveries_channel_id_idx ON channel_deliveries (channel_id, sent_at);

-- +goose Down
DROP TABLE channel_deliveries;
DROP TABLE channels;
