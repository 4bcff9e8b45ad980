package app

import (
	"context"
	"errors"
	"time"

	"github.com/devmesh/devmesh/server"
)

// SecurityContact is where vulnerability reports go; security.txt and
// SECURITY.md name it.
const SecurityContact = "mailto:security@devmesh.dev"

func (a *App) build(ctx context.Context) error {
	a.Server = server.New(a.Log, nil)
	a.Server.Handle(server.HealthRoutes(map[string]server.ReadyChecker{
		"database": server.ReadyFunc(a.databaseReady),
	})...)
	a.Server.Handle(server.SecurityTxtRoute(func() string {
		return server.SecurityTxt(SecurityContact, a.Cfg.URL()+"/security-policy",
			a.Now().Add(180*24*time.Hour))
	}))
	return nil
}

func (a *App) databaseReady(ctx context.Context) error {
	if err := a.DB.Ping(ctx); err != nil {
		return err
	}
	ok, err := a.DB.MigrationsCurrent(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("migrations pending: run devmesh migrate")
	}
	return nil
}
