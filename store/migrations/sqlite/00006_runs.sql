-- +goose Up
-- One row per "Run" a candidate asks for. The workspace was rebuilt from
-- the audit log at seq and stored write-once under workspace_digest; the
-- row follows the run from queued to finished (the command ended, whatever
-- its outcome) or failed (the run could not be carried out; reason says
-- why). job_id is the River job that carries the run. output holds the
-- first bytes of stdout and stderr as they arrived, capped by the runner;
-- the complete output is in the audit log as terminal.output events.
CREATE TABLE runs (
	id               TEXT PRIMARY KEY,
	submission_id    TEXT NOT NULL REFERENCES submissions(id),
	seq              INTEGER NOT NULL CHECK (seq >= 0),
	workspace_digest TEXT NOT NULL,
	command_name     TEXT NOT NULL CHECK (command_name IN ('run', 'test')),
	command          TEXT NOT NULL,
	status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed')),
	outcome          TEXT NOT NULL DEFAULT '',
	exit_code        INTEGER,
	output           BLOB NOT NULL DEFAULT x'',
	output_truncated INTEGER NOT NULL DEFAULT 0,
	reason           TEXT NOT NULL DEFAULT '',
	attempt          INTEGER NOT NULL DEFAULT 0,
	job_id           INTEGER,
	created_at       TIMESTAMP NOT NULL,
	started_at       TIMESTAMP,
	finished_at      TIMESTAMP,
	updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX runs_submission ON runs(submission_id, created_at);
CREATE INDEX runs_open ON runs(status) WHERE status IN ('queued', 'running');

-- +goose Down
DROP TABLE runs;
