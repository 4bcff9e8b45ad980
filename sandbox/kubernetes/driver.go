// Package kubernetes runs sandbox jobs as Kubernetes Jobs: one Job per
// run, in a namespace whose NetworkPolicy denies all traffic, with the
// restricted pod security profile, resource limits equal to requests,
// size-limited scratch volumes and, optionally, a gVisor runtime class.
// See docs/kubernetes.md for the manifests and what a cluster must add.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// Defaults of Options.
const (
	DefaultNamespace      = "devmesh-sandbox"
	DefaultServiceAccount = "devmesh-sandbox"
	// DefaultStartGrace is how long a pod may take to be scheduled,
	// pull its image and unpack the workspace before the wall clock of
	// the command itself starts.
	DefaultStartGrace = 2 * time.Minute
	// DefaultTTL keeps a finished Job for inspection should the driver
	// die before deleting it; the TTL controller then removes it.
	DefaultTTL = 10 * time.Minute
	// DefaultRecheck bounds how long a deleted NetworkPolicy or a
	// relabelled namespace can go unnoticed.
	DefaultRecheck = time.Minute
)

// Options configure a Driver.
type Options struct {
	// Client talks to the cluster; required.
	Client kubernetes.Interface
	// Logger receives run and preflight records; required.
	Logger *slog.Logger
	// Namespace holds the runs; default DefaultNamespace. It must have
	// the deny-all NetworkPolicy of Manifests.
	Namespace string
	// ServiceAccount is the identity of run pods; its token is never
	// mounted. Default DefaultServiceAccount.
	ServiceAccount string
	// RuntimeClass, if set, names the RuntimeClass of run pods, such
	// as "gvisor"; Preflight checks that it exists.
	RuntimeClass string
	// Images overrides the image of a runtime, by runtime name, such as
	// a mirror in a private registry. Every image, default or not, must
	// be pinned by digest ("...@sha256:<64 hex>").
	Images map[string]string
	// CPUs is the CPU limit (and request) of one run; default 1.
	CPUs float64
	// NodeSelector and Tolerations steer runs to dedicated nodes.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// StartGrace bounds scheduling, image pull and workspace unpacking;
	// default DefaultStartGrace.
	StartGrace time.Duration
	// TTL is the Job's ttlSecondsAfterFinished; default DefaultTTL.
	TTL time.Duration
	// Recheck is how long a passing preflight is trusted before Run
	// performs it again; default DefaultRecheck. The objects it checks
	// live in the cluster, where anyone with access can delete them.
	Recheck time.Duration
	// PollInterval is how often a run's status is read; default 500ms.
	PollInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Driver runs jobs as Kubernetes Jobs. It is safe for concurrent use.
type Driver struct {
	opts   Options
	log    *slog.Logger
	images map[string]string // runtime name -> image pinned by digest

	preflightMu sync.Mutex // serializes preflights so one runs at a time

	mu       sync.Mutex // guards probed and probedAt
	probed   error      // nil after a passing preflight
	probedAt time.Time  // when the last preflight ran
}

var _ sandbox.Driver = (*Driver)(nil)

// New returns a driver. It does not contact the cluster: the first Run
// performs the preflight unless Preflight has already passed.
func New(opts Options) (*Driver, error) {
	opts = withDefaults(opts)
	if opts.Client == nil {
		return nil, errors.New("kubernetes sandbox: a client is required")
	}
	if opts.Logger == nil {
		return nil, errors.New("kubernetes sandbox: a logger is required")
	}
	if opts.CPUs > 64 {
		return nil, fmt.Errorf("kubernetes sandbox: invalid cpu limit %v: over 64", opts.CPUs)
	}
	images, err := resolveImages(opts.Images)
	if err != nil {
		return nil, fmt.Errorf("kubernetes sandbox: %w", err)
	}
	return &Driver{opts: opts, log: opts.Logger, images: images,
		probed: errs.E(errs.Unavailable, "sandbox preflight has not run")}, nil
}

// resolveImages returns the image of every runtime, overrides applied,
// and refuses any not pinned by digest: a tag can be moved to other
// content after review, a digest cannot.
func resolveImages(overrides map[string]string) (map[string]string, error) {
	images := make(map[string]string, len(sandbox.Runtimes))
	for name, rt := range sandbox.Runtimes {
		images[name] = rt.Image
	}
	for name, img := range overrides {
		if _, ok := images[name]; !ok {
			return nil, fmt.Errorf("image for unknown runtime %q", name)
		}
		images[name] = img
	}
	for name, img := range images {
		if !pinned(img) {
			return nil, fmt.Errorf("image %q of runtime %q is not pinned by digest", img, name)
		}
	}
	return images, nil
}

// pinned reports whether image names its content by a sha256 digest.
func pinned(image string) bool {
	name, digest, ok := strings.Cut(image, "@sha256:")
	if !ok || name == "" || strings.Contains(name, "@") || len(digest) != 64 {
		return false
	}
	for _, c := range digest {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func withDefaults(o Options) Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ServiceAccount == "" {
		o.ServiceAccount = DefaultServiceAccount
	}
	if o.CPUs <= 0 {
		o.CPUs = 1
	}
	if o.StartGrace <= 0 {
		o.StartGrace = DefaultStartGrace
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Recheck <= 0 {
		o.Recheck = DefaultRecheck
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ensurePreflight runs the preflight if none has passed within the
// Recheck interval.
func (d *Driver) ensurePreflight(ctx context.Context) error {
	d.mu.Lock()
	fresh := d.probed == nil && d.opts.Now().Sub(d.probedAt) < d.opts.Recheck
	d.mu.Unlock()
	if fresh {
		return nil
	}
	_, err := d.Preflight(ctx)
	return err
}
