package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/devmesh/devmesh/store/storetest"
)

// TestSQLiteStatementsMakeSpans checks the embedded database's statements
// reach traces, and that spans name the operation without its arguments.
func TestSQLiteStatementsMakeSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
	const secretish = "org-name-that-must-not-be-in-a-span"
	if _, _, err := db.EnsureOrganization(t.Context(), secretish); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, s := range rec.Ended() {
		ops[s.Name()]++
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), secretish) {
				t.Fatalf("span %q carries a statement argument", s.Name())
			}
		}
	}
	if ops["db SELECT"] == 0 || ops["db INSERT"] == 0 {
		t.Fatalf("spans %v: want db SELECT and db INSERT", ops)
	}
}
