-- +goose Up
-- One token account per submission. budget is fixed when the account is
-- opened (from the task); reserved and used only ever change together
-- with a reservation row, in one transaction. The CHECK keeps the
-- invariant that the ledger never promises more than the budget.
CREATE TABLE ledger_accounts (
	submission_id TEXT PRIMARY KEY REFERENCES submissions(id),
	budget        BIGINT NOT NULL CHECK (budget >= 0),
	reserved      BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
	used          BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	CHECK (used + reserved <= budget)
);

-- A reservation is closed exactly once: settled (usage known), forfeited
-- (usage unknown, the whole amount charged) or released (nothing charged).
CREATE TABLE ledger_reservations (
	id            TEXT PRIMARY KEY,
	submission_id TEXT NOT NULL REFERENCES ledger_accounts(submission_id),
	amount        BIGINT NOT NULL CHECK (amount > 0),
	state         TEXT NOT NULL CHECK (state IN ('reserved', 'settled', 'forfeited', 'released')),
	input_tokens  BIGINT NOT NULL DEFAULT 0,
	cached_tokens BIGINT NOT NULL DEFAULT 0,
	output_tokens BIGINT NOT NULL DEFAULT 0,
	charged       BIGINT NOT NULL DEFAULT 0 CHECK (charged >= 0 AND charged <= amount),
	overage       BIGINT NOT NULL DEFAULT 0 CHECK (overage >= 0),
	created_at    TIMESTAMPTZ NOT NULL,
	closed_at     TIMESTAMPTZ
);
CREATE INDEX ledger_reservations_open ON ledger_reservations(state, created_at);
CREATE INDEX ledger_reservations_submission ON ledger_reservations(submission_id, created_at);

-- +goose Down
DROP TABLE ledger_reservations;
DROP TABLE ledger_accounts;
