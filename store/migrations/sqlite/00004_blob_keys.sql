-- Wrapped data keys of the blob store, one per scope (a submission id or
-- "tasks"). A shredded scope keeps its row with wrapped = NULL as a
-- tombstone, so no new key can be created for it.
-- +goose Up
CREATE TABLE blob_data_keys (
    scope        TEXT PRIMARY KEY NOT NULL,
    kek_id       TEXT NOT NULL,
    wrapped      BLOB,
    created_at   TIMESTAMP NOT NULL,
    rewrapped_at TIMESTAMP,
    shredded_at  TIMESTAMP,
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);

-- +goose Down
DROP TABLE blob_data_keys;
