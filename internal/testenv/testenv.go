// Package testenv hands tests the real servers that scripts/test.sh starts:
// PostgreSQL, Azurite and versitygw. Each accessor skips the test when the
// server is not configured, except under CI (CI=true), where a missing
// server is a failure: a suite that silently skipped its real databases
// would prove nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables set by scripts/test.sh.
const (
	PostgresEnv    = "DEVMESH_TEST_POSTGRES_URL"
	AzuriteEnv     = "DEVMESH_TEST_AZURITE_URL"
	S3EndpointEnv  = "DEVMESH_TEST_S3_ENDPOINT"
	S3AccessKeyEnv = "DEVMESH_TEST_S3_ACCESS_KEY"
	S3SecretKeyEnv = "DEVMESH_TEST_S3_SECRET_KEY"
)

// require returns the value of env or skips (fails under CI) the test.
func require(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: CI must run %s (scripts/test.sh starts it)", env, what)
	}
	t.Skipf("%s is not set; run scripts/test.sh to test against a real %s", env, what)
	return ""
}

// PostgresURL creates a fresh, empty database on the test PostgreSQL server
// and returns its URL. The database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := require(t, PostgresEnv, "PostgreSQL")

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// AzuriteURL returns the blob endpoint of the test Azurite server, such as
// http://127.0.0.1:10000/devstoreaccount1. Azurite accepts the well-known
// development account devstoreaccount1 and its published key.
func AzuriteURL(t testing.TB) string {
	t.Helper()
	return require(t, AzuriteEnv, "Azurite")
}

// S3 describes the test versitygw server.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
}

// S3Server returns the test versitygw server's endpoint and credentials.
func S3Server(t testing.TB) S3 {
	t.Helper()
	return S3{
		Endpoint:  require(t, S3EndpointEnv, "versitygw S3 server"),
		AccessKey: require(t, S3AccessKeyEnv, "versitygw S3 server"),
		SecretKey: require(t, S3SecretKeyEnv, "versitygw S3 server"),
	}
}

// UniqueName returns prefix followed by a random suffix, for buckets and
// containers that must not collide between tests.
func UniqueName(prefix string) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random: %v", err))
	}
	return prefix + hex.EncodeToString(b[:])
}
