// Package config holds DevMesh's settings: defaults that work out of the
// box, an optional YAML file, DEVMESH_* environment variables and command
// line flags, in that order of precedence (later wins).
//
// Secrets (database passwords, provider keys, key material) come only from
// the environment or from files named in the configuration, never from a
// flag value, which any user could read with ps.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
)

// Config is the whole configuration of one devmesh process.
type Config struct {
	// DataDir holds everything of the embedded mode: the SQLite file,
	// blobs, keys and the self-signed certificate.
	DataDir string `yaml:"data_dir"`
	// Addr is the HTTPS listen address.
	Addr string `yaml:"addr"`
	// PublicURL is how browsers reach this server (invite links); empty
	// means https://Addr.
	PublicURL string `yaml:"public_url"`

	// DatabaseURL names the database: empty for the SQLite file in
	// DataDir, or postgres://... It may hold a password, so it is set
	// from DEVMESH_DATABASE_URL or DatabaseURLFile, never a flag.
	DatabaseURL     secret.String `yaml:"-"`
	DatabaseURLFile string        `yaml:"database_url_file"`

	// BlobURL names blob storage: empty for files in DataDir/blobs.
	BlobURL string `yaml:"blob_url"`

	// TLSCert and TLSKey are PEM files of the operator's certificate.
	// Empty in embedded mode: a self-signed certificate is created in
	// DataDir on first start.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// InsecureHTTP serves plain HTTP. Refused on a non-loopback address
	// unless set; logged as a warning at every start.
	InsecureHTTP bool `yaml:"insecure_http"`

	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	// InviteTTL is how long an invite stays valid.
	InviteTTL time.Duration `yaml:"invite_ttl"`
	// LogOrigin names this deployment in signed audit checkpoints.
	LogOrigin string `yaml:"log_origin"`
	// RunnerConcurrency bounds sandbox runs in flight in this process.
	RunnerConcurrency int `yaml:"runner_concurrency"`
	// InsecureSandbox lets the runner take jobs although the sandbox's
	// isolation probes failed. Development only; logged at every run.
	InsecureSandbox bool `yaml:"insecure_sandbox"`
	// Sandbox chooses and configures the driver that runs candidate code.
	Sandbox Sandbox `yaml:"sandbox"`
	// Models are the language models the relay offers besides the
	// offline demonstration model, which is always there.
	Models []Model `yaml:"models"`
}

// Model providers the relay can reach.
const (
	ProviderOpenAI           = "openai"
	ProviderAzureOpenAI      = "azure-openai"
	ProviderAnthropic        = "anthropic"
	ProviderOpenAICompatible = "openai-compatible"
)

// Model is one model the relay offers to candidates' tools.
type Model struct {
	// ID is the name tasks allow and clients send.
	ID string `yaml:"id"`
	// Provider is openai, azure-openai, anthropic or openai-compatible.
	Provider string `yaml:"provider"`
	// Upstream is the provider's name for the model (the deployment on
	// Azure OpenAI); empty means ID.
	Upstream string `yaml:"upstream"`
	// BaseURL overrides the provider's endpoint; required for
	// azure-openai and openai-compatible.
	BaseURL string `yaml:"base_url"`
	// APIVersion is the Azure OpenAI API version.
	APIVersion string `yaml:"api_version"`
	// The provider key comes from the environment variable APIKeyEnv or
	// the file APIKeyFile, never from the configuration file itself.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
}

// Sandbox drivers.
const (
	DriverLocal      = "local"      // bubblewrap on this host
	DriverKubernetes = "kubernetes" // one Job per run
	DriverACA        = "aca"        // Azure Container Apps Jobs
)

// Sandbox configures the sandbox driver of runner processes.
type Sandbox struct {
	// Driver is local, kubernetes or aca.
	Driver string `yaml:"driver"`
	// Kubernetes: the kubeconfig file (empty: in-cluster credentials),
	// the sandbox namespace and an optional runtime class such as gvisor.
	Kubeconfig   string `yaml:"kubeconfig"`
	Namespace    string `yaml:"namespace"`
	RuntimeClass string `yaml:"runtime_class"`
	// ACA configures the Azure Container Apps Jobs driver.
	ACA ACA `yaml:"aca"`
	// Images are the container images of the runtimes (python, go, node)
	// for the remote drivers, each pinned by digest (repo@sha256:...).
	Images map[string]string `yaml:"images"`
}

// ACA names the pre-created Container Apps Job and its companions.
type ACA struct {
	SubscriptionID          string        `yaml:"subscription_id"`
	ResourceGroup           string        `yaml:"resource_group"`
	JobName                 string        `yaml:"job_name"`
	FetchImage              string        `yaml:"fetch_image"`
	StagingContainerURL     string        `yaml:"staging_container_url"`
	LogAnalyticsWorkspaceID string        `yaml:"log_analytics_workspace_id"`
	ManagedIdentityClientID string        `yaml:"managed_identity_client_id"`
	MaxWallTime             time.Duration `yaml:"max_wall_time"`
}

// DefaultConfig returns settings that work out of the box on a laptop.
func DefaultConfig() Config {
	return Config{
		DataDir:           "devmesh-data",
		Addr:              "127.0.0.1:8443",
		LogLevel:          "info",
		LogFormat:         "text",
		InviteTTL:         7 * 24 * time.Hour,
		LogOrigin:         "devmesh.local/log",
		RunnerConcurrency: 2,
		Sandbox:           Sandbox{Driver: DriverLocal, Namespace: "devmesh-sandbox"},
	}
}

// Validate reports every problem at once, each naming its setting.
func (c Config) Validate() error {
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	if c.DataDir == "" {
		bad("data_dir: must not be empty")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		bad("addr %q: want HOST:PORT", c.Addr)
	} else if port == "" {
		bad("addr %q: missing port", c.Addr)
	} else if !c.InsecureHTTP && !IsLoopback(host) && (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert and tls_key: set both or neither")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			bad("public_url %q: want an absolute https:// URL", c.PublicURL)
		}
	}
	if db := c.DatabaseURL.Reveal(); db != "" && !strings.HasPrefix(db, "postgres://") &&
		!strings.HasPrefix(db, "postgresql://") && !strings.HasPrefix(db, "sqlite:") {
		// Do not echo the URL: it may carry a password.
		bad("database_url: want postgres://..., postgresql://... or sqlite:PATH")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format %q: want text or json", c.LogFormat)
	}
	if c.InviteTTL < time.Minute || c.InviteTTL > 90*24*time.Hour {
		bad("invite_ttl %s: want between 1m and 2160h (90 days)", c.InviteTTL)
	}
	if c.LogOrigin == "" || strings.ContainsAny(c.LogOrigin, "\n+ ") {
		bad("log_origin %q: want a non-empty name without spaces, '+' or newlines", c.LogOrigin)
	}
	switch c.Sandbox.Driver {
	case DriverLocal, DriverKubernetes, DriverACA:
	default:
		bad("sandbox.driver %q: want local, kubernetes or aca", c.Sandbox.Driver)
	}
	for i, m := range c.Models {
		switch {
		case m.ID == "":
			bad("models[%d].id: must not be empty", i)
		case m.Provider != ProviderOpenAI && m.Provider != ProviderAzureOpenAI &&
			m.Provider != ProviderAnthropic && m.Provider != ProviderOpenAICompatible:
			bad("models[%d].provider %q: want openai, azure-openai, anthropic or openai-compatible", i, m.Provider)
		case (m.Provider == ProviderAzureOpenAI || m.Provider == ProviderOpenAICompatible) && m.BaseURL == "":
			bad("models[%d].base_url: required for %s", i, m.Provider)
		}
	}
	if c.RunnerConcurrency < 1 || c.RunnerConcurrency > 256 {
		bad("runner_concurrency %d: want 1 to 256", c.RunnerConcurrency)
	}
	return errors.Join(problems...)
}

// IsLoopback reports whether host is a loopback name or address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DatabaseURLOrDefault returns the configured database URL, or the SQLite
// file in the data directory.
func (c Config) DatabaseURLOrDefault() string {
	if db := c.DatabaseURL.Reveal(); db != "" {
		return db
	}
	return "sqlite:" + filepath.Join(c.DataDir, "devmesh.db")
}

// URL returns the public base URL of the server.
func (c Config) URL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "https"
	if c.InsecureHTTP {
		scheme = "http"
	}
	return scheme + "://" + c.Addr
}

// readSecretFile reads a secret from path, trimming one trailing newline.
func readSecretFile(path string) (secret.String, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.String{}, err
	}
	return secret.New(strings.TrimRight(string(b), "\r\n")), nil
}
