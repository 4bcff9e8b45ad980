package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/devmesh/devmesh/internal/secret"
)

// Loader binds the common flags to a flag set and, after parsing, merges
// defaults, the YAML file, the environment and the flags that were set.
type Loader struct {
	fs    *flag.FlagSet
	flags Config
	file  string
	db    string
}

// Flags registers the common settings on fs and returns the loader that
// reads them back.
func Flags(fs *flag.FlagSet) *Loader {
	d := DefaultConfig()
	l := &Loader{fs: fs}
	fs.StringVar(&l.file, "config", "", "YAML configuration `file` (env DEVMESH_CONFIG)")
	fs.StringVar(&l.flags.DataDir, "data", d.DataDir, "data `dir`ectory for the embedded database, blobs, keys and certificate")
	fs.StringVar(&l.flags.Addr, "addr", d.Addr, "HTTPS listen address `host:port`")
	fs.StringVar(&l.flags.PublicURL, "public-url", "", "`URL` browsers use to reach this server (invite links)")
	fs.StringVar(&l.db, "db", "", "database `url` without a password (postgres://... or sqlite:PATH); passwords go in DEVMESH_DATABASE_URL or --db-file")
	fs.StringVar(&l.flags.DatabaseURLFile, "db-file", "", "`file` holding the database URL")
	fs.StringVar(&l.flags.BlobURL, "blob-url", "", "blob storage `url` (file:///..., azblob://..., s3://...); default: DATA/blobs")
	fs.StringVar(&l.flags.TLSCert, "tls-cert", "", "PEM certificate `file` (default: self-signed, in the data directory)")
	fs.StringVar(&l.flags.TLSKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&l.flags.InsecureHTTP, "insecure-http", false, "serve plain HTTP (development only; logged as a warning)")
	fs.StringVar(&l.flags.Sandbox.Driver, "sandbox-driver", DefaultConfig().Sandbox.Driver, "sandbox `driver`: local, kubernetes or aca")
	fs.BoolVar(&l.flags.InsecureSandbox, "insecure-sandbox", false, "run candidate code even if the sandbox's isolation probes fail (development only; logged at every run)")
	fs.StringVar(&l.flags.LogLevel, "log-level", d.LogLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&l.flags.LogFormat, "log-format", d.LogFormat, "log `format`: text or json")
	return l
}

// Load returns the merged, validated configuration.
func (l *Loader) Load(getenv func(string) string) (Config, error) {
	c := DefaultConfig()

	file := l.file
	if file == "" {
		file = getenv("DEVMESH_CONFIG")
	}
	if file != "" {
		if err := loadFile(&c, file); err != nil {
			return c, err
		}
	}
	if err := applyEnv(&c, getenv); err != nil {
		return c, err
	}
	if err := l.applyFlags(&c); err != nil {
		return c, err
	}
	if c.DatabaseURL.Empty() && c.DatabaseURLFile != "" {
		s, err := readSecretFile(c.DatabaseURLFile)
		if err != nil {
			return c, fmt.Errorf("read database url file: %w", err)
		}
		c.DatabaseURL = s
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

func loadFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // an empty file sets nothing
	}
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict())
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %q: %w", path, err)
	}
	return nil
}

func (l *Loader) applyFlags(c *Config) error {
	var err error
	l.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data":
			c.DataDir = l.flags.DataDir
		case "addr":
			c.Addr = l.flags.Addr
		case "public-url":
			c.PublicURL = l.flags.PublicURL
		case "db":
			if u, perr := url.Parse(l.db); perr == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					err = errors.New("--db must not contain a password: anyone can read " +
						"flags with ps; set DEVMESH_DATABASE_URL or use --db-file")
					return
				}
			}
			c.DatabaseURL = secret.New(l.db)
		case "db-file":
			c.DatabaseURLFile = l.flags.DatabaseURLFile
		case "blob-url":
			c.BlobURL = l.flags.BlobURL
		case "tls-cert":
			c.TLSCert = l.flags.TLSCert
		case "tls-key":
			c.TLSKey = l.flags.TLSKey
		case "insecure-http":
			c.InsecureHTTP = l.flags.InsecureHTTP
		case "sandbox-driver":
			c.Sandbox.Driver = l.flags.Sandbox.Driver
		case "insecure-sandbox":
			c.InsecureSandbox = l.flags.InsecureSandbox
		case "log-level":
			c.LogLevel = l.flags.LogLevel
		case "log-format":
			c.LogFormat = l.flags.LogFormat
		}
	})
	return err
}

func applyEnv(c *Config, getenv func(string) string) error {
	var problems []error
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("DEVMESH_DATA", &c.DataDir)
	str("DEVMESH_ADDR", &c.Addr)
	str("DEVMESH_PUBLIC_URL", &c.PublicURL)
	str("DEVMESH_DATABASE_URL_FILE", &c.DatabaseURLFile)
	str("DEVMESH_BLOB_URL", &c.BlobURL)
	str("DEVMESH_TLS_CERT", &c.TLSCert)
	str("DEVMESH_TLS_KEY", &c.TLSKey)
	str("DEVMESH_LOG_LEVEL", &c.LogLevel)
	str("DEVMESH_LOG_FORMAT", &c.LogFormat)
	str("DEVMESH_LOG_ORIGIN", &c.LogOrigin)
	str("DEVMESH_SANDBOX_DRIVER", &c.Sandbox.Driver)
	str("DEVMESH_KUBECONFIG", &c.Sandbox.Kubeconfig)
	str("DEVMESH_KUBE_NAMESPACE", &c.Sandbox.Namespace)
	str("DEVMESH_KUBE_RUNTIME_CLASS", &c.Sandbox.RuntimeClass)
	if v := getenv("DEVMESH_DATABASE_URL"); v != "" {
		c.DatabaseURL = secret.New(v)
	}
	// parsed reads name with parse; a bad value is a problem naming the
	// variable and what it wants, and leaves the setting unchanged.
	parsed := func(name, want string, parse func(string) error) {
		if v := getenv(name); v != "" && parse(v) != nil {
			problems = append(problems, fmt.Errorf("%s %q: want %s", name, v, want))
		}
	}
	boolean := func(dst *bool) func(string) error {
		return func(v string) (err error) { *dst, err = strconv.ParseBool(v); return err }
	}
	parsed("DEVMESH_INSECURE_HTTP", "true or false", boolean(&c.InsecureHTTP))
	parsed("DEVMESH_INSECURE_SANDBOX", "true or false", boolean(&c.InsecureSandbox))
	parsed("DEVMESH_INVITE_TTL", "a duration such as 168h", func(v string) (err error) {
		c.InviteTTL, err = time.ParseDuration(v)
		return err
	})
	parsed("DEVMESH_RUNNER_CONCURRENCY", "a number", func(v string) (err error) {
		c.RunnerConcurrency, err = strconv.Atoi(v)
		return err
	})
	return errors.Join(problems...)
}
