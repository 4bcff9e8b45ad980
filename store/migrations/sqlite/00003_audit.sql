-- The audit log: events (the Merkle leaves), the stored tlog hashes of
-- each leaf, the tree heads written with each batch, and the signed
-- checkpoints. All four tables are append-only: the triggers below make
-- SQLite refuse UPDATE and DELETE on them. docs/audit.md describes the
-- format.
-- +goose Up
CREATE TABLE audit_events (
	idx           INTEGER PRIMARY KEY,
	submission_id TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	kind          TEXT NOT NULL,
	actor         TEXT NOT NULL,
	server_time   TIMESTAMP NOT NULL,
	client_time   TIMESTAMP,
	client_id     TEXT,
	payload       TEXT NOT NULL,
	UNIQUE (submission_id, seq),
	UNIQUE (submission_id, client_id)
);

-- hashes holds tlog.StoredHashes for the leaf: 32 bytes per level, the
-- leaf hash first.
CREATE TABLE audit_hashes (
	leaf_index INTEGER PRIMARY KEY,
	hashes     BLOB NOT NULL
);

CREATE TABLE audit_tree_heads (
	tree_size  INTEGER PRIMARY KEY,
	root_hash  BLOB NOT NULL,
	created_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_checkpoints (
	tree_size  INTEGER PRIMARY KEY,
	note       TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_hashes_no_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_tree_heads_no_update BEFORE UPDATE ON audit_tree_heads
BEGIN SELECT RAISE(ABORT, 'audit_tree_heads is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_tree_heads_no_delete BEFORE DELETE ON audit_tree_heads
BEGIN SELECT RAISE(ABORT, 'audit_tree_heads is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_tree_heads;
DROP TABLE audit_hashes;
DROP TABLE audit_events;
