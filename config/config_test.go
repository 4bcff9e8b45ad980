package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	l := Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return l.Load(func(k string) string { return env[k] })
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Addr = "nonsense"
	c.LogLevel = "loud"
	c.LogFormat = "xml"
	c.InviteTTL = time.Second
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{`addr "nonsense"`, `log_level "loud"`, `log_format "xml"`, "invite_ttl 1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "devmesh.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:9000\nlog_level: warn\ndata_dir: /from/file\n"), 0o600)
	c, err := load(t, []string{"--config", file, "--data", "/from/flag"},
		map[string]string{"DEVMESH_LOG_LEVEL": "debug", "DEVMESH_DATA": "/from/env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" {
		t.Errorf("addr = %q, want the file's value", c.Addr)
	}
	if c.LogLevel != "debug" {
		t.Errorf("log level = %q, want the environment's value over the file's", c.LogLevel)
	}
	if c.DataDir != "/from/flag" {
		t.Errorf("data dir = %q, want the flag's value over the environment's", c.DataDir)
	}
}

func TestUnknownFileFieldIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "devmesh.yaml")
	os.WriteFile(file, []byte("adr: 127.0.0.1:9000\n"), 0o600)
	if _, err := load(t, []string{"--config", file}, nil); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("Load = %v, want an error naming the unknown field", err)
	}
}

func TestPasswordNeverFromAFlag(t *testing.T) {
	_, err := load(t, []string{"--db", "postgres://u:hunter2@db/x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "DEVMESH_DATABASE_URL") {
		t.Fatalf("Load = %v, want a refusal with a hint", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error echoes the password: %v", err)
	}
	c, err := load(t, nil, map[string]string{"DEVMESH_DATABASE_URL": "postgres://u:hunter2@db/x"})
	if err != nil || c.DatabaseURL.Reveal() != "postgres://u:hunter2@db/x" {
		t.Fatalf("from env: %v, %v", c.DatabaseURL.Reveal(), err)
	}
}

func TestDatabaseURLFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db-url")
	os.WriteFile(file, []byte("postgres://u:pw@db/x\n"), 0o600)
	c, err := load(t, []string{"--db-file", file}, nil)
	if err != nil || c.DatabaseURL.Reveal() != "postgres://u:pw@db/x" {
		t.Fatalf("Load = %q, %v", c.DatabaseURL.Reveal(), err)
	}
}

func TestBadEnvironmentValuesAreNamed(t *testing.T) {
	_, err := load(t, nil, map[string]string{
		"DEVMESH_INSECURE_HTTP":      "maybe",
		"DEVMESH_INVITE_TTL":         "a week",
		"DEVMESH_RUNNER_CONCURRENCY": "many",
	})
	if err == nil {
		t.Fatal("Load accepted malformed environment values")
	}
	for _, want := range []string{`DEVMESH_INSECURE_HTTP "maybe": want true or false`,
		`DEVMESH_INVITE_TTL "a week": want a duration`, `DEVMESH_RUNNER_CONCURRENCY "many": want a number`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
