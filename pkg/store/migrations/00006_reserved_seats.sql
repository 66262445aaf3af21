-- +goose Up

-- reserved_groups holds a section's reserved seat groups as last read,
-- [{"name","capacity","enrolled"}], with non_reserved_open; NULL while they
-- are unknown. general_open is the latest known count of seats open to
-- everyone: an observation whose count is unknown keeps it, so an opening
-- first seen while the groups could not be read is still detected once
-- they are.
ALTER TABLE section_states
    ADD COLUMN reserved_groups jsonb,
    ADD COLUMN general_open    integer;

-- notify_reserved asks for an alert also when only reserved seats open.
ALTER TABLE class_watches ADD COLUMN notify_reserved boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE class_watches DROP COLUMN notify_reserved;
ALTER TABLE section_states DROP COLUMN general_open, DROP COLUMN reserved_groups;
