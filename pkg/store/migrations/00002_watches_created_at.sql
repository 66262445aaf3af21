-- +goose Up

-- The scheduler's runs within a cycle look only at courses that gained a
-- watch since its previous run (DueCoursesSince).
CREATE INDEX class_watches_created_at_idx ON class_watches (created_at);

-- +goose Down
DROP INDEX class_watches_created_at_idx;
