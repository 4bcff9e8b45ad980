package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

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
		if err := checkImages(cfg); err != nil {
			return nil, nil, err
		}
		client, err := kubernetes.Connect(cfg.Sandbox.Kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		d, err := kubernetes.New(kubernetes.Options{Client: client, Logger: log,
			Namespace: cfg.Sandbox.Namespace, RuntimeClass: cfg.Sandbox.RuntimeClass,
			Images: cfg.Sandbox.Images})
		if err != nil {
			return nil, nil, err
		}
		return d, func() {}, nil
	case config.DriverACA:
		if err := checkImages(cfg); err != nil {
			return nil, nil, err
		}
		c := aca.DefaultConfig()
		c.Images = cfg.Sandbox.Images
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

// checkImages refuses a remote driver while any runtime would run a
// placeholder image: DevMesh publishes no runtime images yet, so the
// operator pins each one (repo@sha256:...) in sandbox.images.
func checkImages(cfg config.Config) error {
	var missing []string
	for name, rt := range sandbox.Runtimes {
		img, ok := cfg.Sandbox.Images[name]
		if !ok {
			img = rt.Image
		}
		if img == "" || sandbox.PlaceholderImage(img) {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("sandbox.images: pin an image by digest for runtime %s "+
		"(for example python: registry.example/python@sha256:...); the built-in references are placeholders",
		strings.Join(missing, ", "))
}
