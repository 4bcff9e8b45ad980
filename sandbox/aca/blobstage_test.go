package aca

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/internal/testenv"
)

// The published development account of the Azure storage emulator.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	// azuriteVersion is the newest storage API version Azurite 3.35
	// accepts; the SDK's default is newer.
	azuriteVersion = "2025-11-05"
)

// storageVersion pins the storage API version header; a per-call
// policy, so it runs before the request is signed.
type storageVersion string

func (v storageVersion) Do(req *policy.Request) (*http.Response, error) {
	req.Raw().Header["x-ms-version"] = []string{string(v)}
	return req.Next()
}

// mustAzuriteStager returns a stager on a fresh container of the test
// Azurite server, signing with the development account key.
func mustAzuriteStager(t *testing.T, now func() time.Time) *BlobStager {
	t.Helper()
	base := testenv.AzuriteURL(t)
	u := base + "/" + testenv.UniqueName("stage")
	opts := &container.ClientOptions{}
	opts.PerCallPolicies = []policy.Policy{storageVersion(azuriteVersion)}
	s, err := NewBlobStager(BlobStagerOptions{
		ContainerURL: u, AccountName: azuriteAccount,
		AccountKey: secret.New(azuriteKey), ClientOptions: opts, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.container.Create(t.Context(), nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	return s
}

func httpDo(t *testing.T, method, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader("overwritten"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-ms-version", azuriteVersion)
	if method == http.MethodPut {
		// A well-formed upload, so that only the SAS can refuse it.
		req.Header.Set("x-ms-blob-type", "BlockBlob")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestBlobStagerURLReadsArchive(t *testing.T) {
	s := mustAzuriteStager(t, nil)
	archive := bytes.Repeat([]byte("workspace"), 1000)
	u, remove, err := s.Stage(t.Context(), "run-1", bytes.NewReader(archive), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	code, body := httpDo(t, http.MethodGet, u.Reveal())
	if code != http.StatusOK || !bytes.Equal(body, archive) {
		t.Fatalf("GET staged url: status %d, %d bytes, want 200 and the archive", code, len(body))
	}
	if err := remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _ := httpDo(t, http.MethodGet, u.Reveal()); code != http.StatusNotFound {
		t.Errorf("GET after remove: status %d, want 404", code)
	}
	if err := remove(t.Context()); err != nil {
		t.Errorf("second remove: %v, want nil", err)
	}
}

// TestBlobStagerURLGrantsNothingElse tries what a holder of the URL
// might: overwrite or delete the archive, read a sibling blob with the
// same signature, list the container.
func TestBlobStagerURLGrantsNothingElse(t *testing.T) {
	s := mustAzuriteStager(t, nil)
	u1, _, err := s.Stage(t.Context(), "run-a", strings.NewReader("a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u2, _, err := s.Stage(t.Context(), "run-b", strings.NewReader("b"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := mustParse(t, u1.Reveal()), mustParse(t, u2.Reveal())
	sibling := *p2
	sibling.RawQuery = p1.RawQuery
	list := *p1
	list.Path = strings.TrimSuffix(p1.Path, "/"+lastTwo(p1.Path))
	list.RawQuery = p1.RawQuery + "&restype=container&comp=list"
	tests := []struct {
		name, method, url string
	}{
		{"overwrite", http.MethodPut, u1.Reveal()},
		{"delete", http.MethodDelete, u1.Reveal()},
		{"read sibling with this signature", http.MethodGet, sibling.String()},
		{"list container", http.MethodGet, list.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := httpDo(t, tt.method, tt.url); code < 400 {
				t.Errorf("%s: status %d, want refused", tt.method, code)
			}
		})
	}
	if code, body := httpDo(t, http.MethodGet, u1.Reveal()); code != 200 || string(body) != "a" {
		t.Errorf("archive changed: status %d body %q", code, body)
	}
}

func TestBlobStagerURLExpires(t *testing.T) {
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	s := mustAzuriteStager(t, past)
	u, _, err := s.Stage(t.Context(), "run-old", strings.NewReader("x"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := httpDo(t, http.MethodGet, u.Reveal()); code != http.StatusForbidden {
		t.Errorf("GET with expired url: status %d, want 403", code)
	}
}

func TestBlobStagerNamesAreUnguessable(t *testing.T) {
	a, _ := blobName("run")
	b, _ := blobName("run")
	if a == b || !strings.HasPrefix(a, "workspaces/run-") || len(a) < len("workspaces/run-")+32 {
		t.Errorf("got names %q and %q, want distinct names with 128 random bits", a, b)
	}
}

func TestNewBlobStagerRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "https://acct.blob.core.windows.net", "not a url"} {
		_, err := NewBlobStager(BlobStagerOptions{ContainerURL: u, AccountName: "a",
			AccountKey: secret.New(azuriteKey)})
		if err == nil {
			t.Errorf("NewBlobStager(%q): got no error", u)
		}
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// lastTwo returns the last two path segments ("workspaces/NAME").
func lastTwo(p string) string {
	parts := strings.Split(p, "/")
	return strings.Join(parts[len(parts)-2:], "/")
}
