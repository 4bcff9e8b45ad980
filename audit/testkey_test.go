package audit

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	testKeyOnce sync.Once
	testKey     *Signer
	testKeyErr  error
)

// testSigner returns one signer shared by the tests of this package, so
// that tests that sign and helpers that verify agree on the key.
func testSigner(t testing.TB) *Signer {
	t.Helper()
	testKeyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "audit-key")
		if err != nil {
			testKeyErr = err
			return
		}
		defer os.RemoveAll(dir)
		testKey, testKeyErr = LoadOrCreateSigner(filepath.Join(dir, "log.key"), "devmesh.test/log")
	})
	if testKeyErr != nil {
		t.Fatal(testKeyErr)
	}
	return testKey
}

func testVerifierKey(t testing.TB) string { return testSigner(t).VerifierKey() }
