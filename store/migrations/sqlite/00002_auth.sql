-- +goose Up
-- Token signing keys, shared by every replica. The private key is sealed
-- with AES-256-GCM under the master key; the public key is plain.
CREATE TABLE signing_keys (
	kid          TEXT PRIMARY KEY,
	algorithm    TEXT NOT NULL CHECK (algorithm = 'EdDSA'),
	public_key   TEXT NOT NULL,
	private_key  TEXT NOT NULL,
	created_at   TIMESTAMP NOT NULL,
	retire_after TIMESTAMP,
	retired_at   TIMESTAMP
);

-- A token family is one sign-in: its refresh tokens rotate within it and
-- its access tokens name it, so revoking the family ends the sign-in.
CREATE TABLE token_families (
	id           TEXT PRIMARY KEY,
	recruiter_id TEXT NOT NULL REFERENCES recruiters(id),
	created_at   TIMESTAMP NOT NULL,
	revoked_at   TIMESTAMP
);
CREATE INDEX token_families_recruiter ON token_families(recruiter_id);

-- Refresh tokens are stored as SHA-256 hashes only.
CREATE TABLE refresh_tokens (
	token_hash TEXT PRIMARY KEY,
	family_id  TEXT NOT NULL REFERENCES token_families(id),
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL,
	used_at    TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE token_families;
DROP TABLE signing_keys;
