package main

import (
	"fmt"
	"log/slog"

	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/sandbox/aca"
	"github.com/devmesh/devmesh/sandbox/kubernetes"
	"github.com/devmesh/devmesh/sandbox/local"
)

// newDriver builds the configured sandbox driver. Only cmd/devmesh links
// drivers; the server packages know only the sandbox.Driver interface.
// The returned function releases the driver.
func newDriver(cfg config.Config, log *slog.Logger) (sandbox.Driver, func(), error) {
	switch cfg.Sandbox.Driver {
	case config.DriverLocal, "":
		d, err := local.New(local.Options{Logger: log, Slots: cfg.RunnerConcurrency,
			Insecure: cfg.InsecureSandbox})
		if err != nil {
			return nil, nil, err
		}
		return d, func() { d.Close() }, nil
	case config.DriverKubernetes:
		client, err := kubernetes.Connect(cfg.Sandbox.Kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		d, err := kubernetes.New(kubernetes.Options{Client: client, Logger: log,
			Namespace: cfg.Sandbox.Namespace, RuntimeClass: cfg.Sandbox.RuntimeClass})
		if err != nil {
			return nil, nil, err
		}
		return d, func() {}, nil
	case config.DriverACA:
		c := aca.DefaultConfig()
		a := cfg.Sandbox.ACA
		c.SubscriptionID, c.ResourceGroup, c.JobName = a.SubscriptionID, a.ResourceGroup, a.JobName
		c.FetchImage, c.StagingContainerURL = a.FetchImage, a.StagingContainerURL
		c.LogAnalyticsWorkspaceID, c.ManagedIdentityClientID = a.LogAnalyticsWorkspaceID, a.ManagedIdentityClientID
		if a.MaxWallTime > 0 {
			c.MaxWallTime = a.MaxWallTime
		}
		d, err := aca.Open(c, log)
		if err != nil {
			return nil, nil, err
		}
		return d, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown sandbox driver %q", cfg.Sandbox.Driver)
}
