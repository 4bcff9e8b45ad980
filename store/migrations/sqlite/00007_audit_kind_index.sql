-- +goose Up
-- Replays look up a submission's workspace snapshots by kind.
CREATE INDEX audit_events_submission_kind ON audit_events (submission_id, kind, seq);

-- +goose Down
DROP INDEX audit_events_submission_kind;
