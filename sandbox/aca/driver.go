// Package aca runs sandbox jobs as executions of a pre-created Azure
// Container Apps Job with a manual trigger. Each run starts one
// execution whose template overrides the image (pinned by digest), the
// command, the environment and the resources; an init container fetches
// the workspace archive through a short-lived read-only URL. See
// docs/azure.md for the job an operator creates and the roles it needs.
package aca

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/sandbox"
)

// Options configure a Driver. Fields marked required have no default.
type Options struct {
	// Logger receives run and probe records; required.
	Logger *slog.Logger
	// SubscriptionID, ResourceGroup and JobName name the pre-created
	// manual-trigger job; required.
	SubscriptionID string
	ResourceGroup  string
	JobName        string
	// Credential authenticates to Azure Resource Manager, typically an
	// azidentity.ManagedIdentityCredential of the runner; required.
	Credential azcore.TokenCredential
	// ClientOptions tune the SDK clients (cloud, retries, transport).
	// Nil uses the SDK defaults against public Azure.
	ClientOptions *arm.ClientOptions
	// Stager makes each run's workspace fetchable by the init
	// container; required.
	Stager Stager
	// Logs reads the console output of finished executions. Nil means
	// output is unavailable and every Result says so in Detail.
	Logs LogReader
	// FetchImage is the init container image that downloads and
	// unpacks the workspace; it must be pinned by digest and provide
	// sh, wget and tar (busybox does). Required.
	FetchImage string
	// Images overrides the image of a runtime, by runtime name; each must
	// be pinned by digest.
	Images map[string]string
	// MainContainer and InitContainer are the container names in the
	// job's template; the override uses the same names so that the
	// job's workspace volume mounts apply. Defaults "run" and "fetch".
	MainContainer string
	InitContainer string
	// MaxWallTime is the longest wall limit a job may ask for; the
	// preflight requires the job's replica timeout to cover it.
	// Default 30 minutes.
	MaxWallTime time.Duration
	// StartTimeout bounds how long an execution may take to start
	// (image pull, scheduling) before it counts as a sandbox error.
	// Default 5 minutes.
	StartTimeout time.Duration
	// PollInterval is the pause between status reads. Default 2s.
	PollInterval time.Duration
	// StopTimeout bounds the stop request of an overdue execution.
	// Default 1 minute.
	StopTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Driver runs sandbox jobs on Azure Container Apps Jobs. It is safe for
// concurrent use: each Run starts its own execution.
type Driver struct {
	opts Options
	log  *slog.Logger
	jobs *armappcontainers.JobsClient
	api  *armappcontainers.ContainerAppsAPIClient
	envs *armappcontainers.ManagedEnvironmentsClient
	pre  preflightState
}

var _ sandbox.Driver = (*Driver)(nil)

// New builds the SDK clients. It makes no request; call Preflight to
// check the job before the first Run (Run also does it once).
func New(opts Options) (*Driver, error) {
	opts = withDefaults(opts)
	if err := opts.validate(); err != nil {
		return nil, err
	}
	f, err := armappcontainers.NewClientFactory(
		opts.SubscriptionID, opts.Credential, opts.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("azure container apps: create clients: %w", err)
	}
	return &Driver{
		opts: opts,
		log:  opts.Logger.With("driver", "aca", "job", opts.JobName),
		jobs: f.NewJobsClient(),
		api:  f.NewContainerAppsAPIClient(),
		envs: f.NewManagedEnvironmentsClient(),
	}, nil
}

func withDefaults(o Options) Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxWallTime, 30*time.Minute)
	def(&o.StartTimeout, 5*time.Minute)
	def(&o.PollInterval, 2*time.Second)
	def(&o.StopTimeout, time.Minute)
	if o.MainContainer == "" {
		o.MainContainer = "run"
	}
	if o.InitContainer == "" {
		o.InitContainer = "fetch"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate reports every missing or malformed option at once.
func (o Options) validate() error {
	var p []error
	need := func(ok bool, what string) {
		if !ok {
			p = append(p, fmt.Errorf("%s is required", what))
		}
	}
	need(o.Logger != nil, "logger")
	need(o.SubscriptionID != "", "subscription id")
	need(o.ResourceGroup != "", "resource group")
	need(o.JobName != "", "job name")
	need(o.Credential != nil, "credential")
	need(o.Stager != nil, "workspace stager")
	need(o.FetchImage != "", "fetch image")
	if o.FetchImage != "" && !pinned(o.FetchImage) {
		p = append(p, fmt.Errorf(
			"fetch image %q is not pinned by digest: want NAME@sha256:HEX", o.FetchImage))
	}
	if o.MainContainer == o.InitContainer {
		p = append(p, fmt.Errorf(
			"container names must differ: both are %q", o.MainContainer))
	}
	if err := errors.Join(p...); err != nil {
		return fmt.Errorf("azure container apps options: %w", err)
	}
	return nil
}
