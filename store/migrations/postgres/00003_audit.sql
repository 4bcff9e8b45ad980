-- The audit log: events (the Merkle leaves), the stored tlog hashes of
-- each leaf, the tree heads written with each batch, and the signed
-- checkpoints. All four tables are append-only: triggers raise on UPDATE,
-- DELETE and TRUNCATE, and are enabled ALWAYS so that a session with
-- session_replication_role = replica cannot skip them. docs/audit.md
-- describes the format and the INSERT/SELECT-only application role.
-- +goose Up
CREATE TABLE audit_events (
	idx           BIGINT PRIMARY KEY,
	submission_id TEXT NOT NULL,
	seq           BIGINT NOT NULL,
	kind          TEXT NOT NULL,
	actor         TEXT NOT NULL,
	server_time   TIMESTAMPTZ NOT NULL,
	client_time   TIMESTAMPTZ,
	client_id     TEXT,
	payload       TEXT NOT NULL,
	UNIQUE (submission_id, seq),
	UNIQUE (submission_id, client_id)
);

-- hashes holds tlog.StoredHashes for the leaf: 32 bytes per level, the
-- leaf hash first.
CREATE TABLE audit_hashes (
	leaf_index BIGINT PRIMARY KEY,
	hashes     BYTEA NOT NULL
);

CREATE TABLE audit_tree_heads (
	tree_size  BIGINT PRIMARY KEY,
	root_hash  BYTEA NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_checkpoints (
	tree_size  BIGINT PRIMARY KEY,
	note       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only;
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;

CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE OR DELETE ON audit_hashes
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_hashes_no_truncate BEFORE TRUNCATE ON audit_hashes
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
ALTER TABLE audit_hashes ENABLE ALWAYS TRIGGER audit_hashes_append_only;
ALTER TABLE audit_hashes ENABLE ALWAYS TRIGGER audit_hashes_no_truncate;

CREATE TRIGGER audit_tree_heads_append_only BEFORE UPDATE OR DELETE ON audit_tree_heads
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_tree_heads_no_truncate BEFORE TRUNCATE ON audit_tree_heads
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
ALTER TABLE audit_tree_heads ENABLE ALWAYS TRIGGER audit_tree_heads_append_only;
ALTER TABLE audit_tree_heads ENABLE ALWAYS TRIGGER audit_tree_heads_no_truncate;

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_append_only;
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_tree_heads;
DROP TABLE audit_hashes;
DROP TABLE audit_events;
DROP FUNCTION audit_refuse_change();
