-- +goose Up
CREATE TABLE organizations (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at TIMESTAMP NOT NULL
);

CREATE TABLE recruiters (
	id            TEXT PRIMARY KEY,
	org_id        TEXT NOT NULL REFERENCES organizations(id),
	email         TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'recruiter', 'viewer')),
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    TIMESTAMP NOT NULL,
	updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE tasks (
	id         TEXT PRIMARY KEY,
	org_id     TEXT NOT NULL REFERENCES organizations(id),
	name       TEXT NOT NULL,
	version    TEXT NOT NULL,
	digest     TEXT NOT NULL,
	runtime    TEXT NOT NULL,
	manifest   TEXT NOT NULL,
	size_bytes INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL,
	UNIQUE (org_id, digest)
);

CREATE TABLE assessments (
	id         TEXT PRIMARY KEY,
	org_id     TEXT NOT NULL REFERENCES organizations(id),
	task_id    TEXT NOT NULL REFERENCES tasks(id),
	title      TEXT NOT NULL,
	settings   TEXT NOT NULL,
	created_by TEXT REFERENCES recruiters(id),
	created_at TIMESTAMP NOT NULL,
	deleted_at TIMESTAMP
);
CREATE INDEX assessments_org ON assessments(org_id, created_at);

CREATE TABLE submissions (
	id                TEXT PRIMARY KEY,
	org_id            TEXT NOT NULL REFERENCES organizations(id),
	assessment_id     TEXT NOT NULL REFERENCES assessments(id),
	candidate_email   TEXT NOT NULL,
	state             TEXT NOT NULL CHECK (state IN ('invited', 'open', 'submitted', 'evaluated')),
	invite_hash       TEXT UNIQUE,
	invite_expires_at TIMESTAMP,
	opened_at         TIMESTAMP,
	deadline_at       TIMESTAMP,
	submitted_at      TIMESTAMP,
	evaluated_at      TIMESTAMP,
	created_at        TIMESTAMP NOT NULL
);
CREATE INDEX submissions_assessment ON submissions(assessment_id, created_at);

-- +goose Down
DROP TABLE submissions;
DROP TABLE assessments;
DROP TABLE tasks;
DROP TABLE recruiters;
DROP TABLE organizations;
