package blob_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
)

// TestNoKeyMaterialInLogs drives every logged operation and then looks
// for the data key, in every common encoding, in what was logged.
func TestNoKeyMaterialInLogs(t *testing.T) {
	var logs bytes.Buffer
	kek1, kek2 := mustKEK(t, "kek1"), mustKEK(t, "kek2")
	keys := &blob.MemDataKeys{}
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := blob.Options{Keys: mustKeyring(t, kek1), DataKeys: keys, Logger: logger}
	f := localFixture(t, opts)
	blobtest.MustPut(t, f.Store, "s1", []byte("hello"))

	w, err := keys.Get(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := keeperOf(kek1).Decrypt(t.Context(), w.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	dataKey := pt[len(pt)-32:]

	opts.Keys = mustKeyring(t, kek2, kek1)
	rot := mustStore(t, f.Store.Backend(), opts)
	if _, err := rot.Rewrap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Store.Shred(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	if !strings.Contains(out, "shredded data key") {
		t.Fatalf("expected operator events in the log, got %q", out)
	}
	for _, enc := range []string{
		hex.EncodeToString(dataKey),
		base64.StdEncoding.EncodeToString(dataKey),
		base64.StdEncoding.EncodeToString(w.Ciphertext),
		string(dataKey),
	} {
		if strings.Contains(out, enc) {
			t.Fatalf("key material %q appears in the log", enc)
		}
	}
}
