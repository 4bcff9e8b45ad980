package aca

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Config is what an operator sets to use this driver; cmd/devmesh
// reads it from the environment or a configuration file. No field is
// a secret: the runner authenticates with its managed identity.
type Config struct {
	SubscriptionID string `json:"subscription_id"`
	ResourceGroup  string `json:"resource_group"`
	JobName        string `json:"job_name"`
	// FetchImage is the init container image, pinned by digest.
	FetchImage string `json:"fetch_image"`
	// StagingContainerURL is the blob container for staged workspaces.
	StagingContainerURL string `json:"staging_container_url"`
	// LogAnalyticsWorkspaceID is the workspace (customer) id of the
	// environment's logs; empty leaves run output unavailable.
	LogAnalyticsWorkspaceID string `json:"log_analytics_workspace_id"`
	// ManagedIdentityClientID selects a user-assigned identity of the
	// runner; empty uses azidentity's default chain (the runner's
	// managed identity in Azure, a developer's az login elsewhere).
	ManagedIdentityClientID string `json:"managed_identity_client_id"`
	// MaxWallTime is the longest wall limit a task may ask for.
	MaxWallTime time.Duration `json:"max_wall_time"`
	// Images are the runtime images by runtime name, pinned by digest.
	Images map[string]string `json:"images"`
}

// DefaultConfig returns a Config with every optional field set.
func DefaultConfig() Config {
	return Config{MaxWallTime: 30 * time.Minute}
}

// Validate reports every missing or malformed field at once.
func (c Config) Validate() error {
	var p []error
	need := func(v, name string) {
		if v == "" {
			p = append(p, fmt.Errorf("%s is required", name))
		}
	}
	need(c.SubscriptionID, "subscription_id")
	need(c.ResourceGroup, "resource_group")
	need(c.JobName, "job_name")
	need(c.FetchImage, "fetch_image")
	need(c.StagingContainerURL, "staging_container_url")
	if c.FetchImage != "" && !pinned(c.FetchImage) {
		p = append(p, fmt.Errorf("fetch_image %q is not pinned by digest", c.FetchImage))
	}
	if c.MaxWallTime <= 0 {
		p = append(p, fmt.Errorf("max_wall_time %v must be positive", c.MaxWallTime))
	}
	if err := errors.Join(p...); err != nil {
		return fmt.Errorf("azure container apps config: %w", err)
	}
	return nil
}

// Open builds a Driver from c, authenticating every Azure call with
// the runner's identity. It makes no request; Run checks the job's
// preflight first.
func Open(c Config, log *slog.Logger) (*Driver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cred, err := credential(c.ManagedIdentityClientID)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	stager, err := NewBlobStager(BlobStagerOptions{
		ContainerURL: c.StagingContainerURL, Credential: cred,
	})
	if err != nil {
		return nil, err
	}
	opts := Options{
		Logger: log, SubscriptionID: c.SubscriptionID,
		ResourceGroup: c.ResourceGroup, JobName: c.JobName,
		Credential: cred, Stager: stager, FetchImage: c.FetchImage,
		MaxWallTime: c.MaxWallTime, Images: c.Images,
	}
	if c.LogAnalyticsWorkspaceID != "" {
		opts.Logs, err = NewLogAnalytics(LogAnalyticsOptions{
			WorkspaceID: c.LogAnalyticsWorkspaceID, Credential: cred,
		})
		if err != nil {
			return nil, err
		}
	}
	return New(opts)
}

func credential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(clientID),
		})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}
