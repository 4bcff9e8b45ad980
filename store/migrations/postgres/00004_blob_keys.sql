-- Wrapped data keys of the blob store, one per scope (a submission id or
-- "tasks"). A shredded scope keeps its row with wrapped = NULL as a
-- tombstone, so no new key can be created for it.
-- +goose Up
CREATE TABLE blob_data_keys (
    scope        TEXT PRIMARY KEY,
    kek_id       TEXT NOT NULL,
    wrapped      BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    rewrapped_at TIMESTAMPTZ,
    shredded_at  TIMESTAMPTZ,
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);

-- +goose Down
DROP TABLE blob_data_keys;
