package app

import (
	"context"
	"errors"
	"time"

	"github.com/devmesh/devmesh/api"
	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/runner"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/workspace"
)

// SecurityContact is where vulnerability reports go; security.txt and
// SECURITY.md name it.
const SecurityContact = "mailto:security@devmesh.dev"

func (a *App) build(ctx context.Context) error {
	blobs, err := a.openBlobs(ctx)
	if err != nil {
		return err
	}
	a.Blobs = blobs
	a.closers = append(a.closers, blobs.Close)

	if a.Audit, err = a.openAudit(ctx); err != nil {
		return err
	}
	if a.Relay, err = a.openRelay(); err != nil {
		return err
	}
	if a.Auth, err = a.openAuth(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.closers = append(a.closers, func() error { cancel(); return nil })
	go a.Auth.Run(runCtx)
	go a.forfeitStale(runCtx, time.Minute)

	a.Server = server.New(a.Log, a.Auth)
	a.Server.Handle(a.Auth.Routes()...)
	logAPI := audit.NewAPI(a.Audit)
	logAPI.UseSnapshots(audit.BlobSnapshots{Blobs: a.Blobs, Limits: workspace.DefaultLimits()})
	a.Server.Handle(logAPI.Routes()...)
	runs, err := runner.NewAPI(runner.APIDeps{DB: a.DB, Blobs: a.Blobs, Audit: a.Audit, Log: a.Log})
	if err != nil {
		return err
	}
	a.Server.Handle(runs.Routes()...)
	a.Server.Handle(a.Relay.Routes()...)
	a.Server.Handle(server.HealthRoutes(map[string]server.ReadyChecker{
		"database": server.ReadyFunc(a.databaseReady),
	})...)
	a.Server.Handle(server.SecurityTxtRoute(func() string {
		return server.SecurityTxt(SecurityContact, a.Cfg.URL()+"/security-policy",
			a.Now().Add(180*24*time.Hour))
	}))
	cat := &api.Catalogue{DB: a.DB, Archives: taskArchives{blobs: a.Blobs}, Log: a.Log}
	a.Server.Handle(cat.Routes()...)
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
