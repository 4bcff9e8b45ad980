package aca

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeLogAnalytics is a test double of the Log Analytics query API. It
// is not Log Analytics and runs no KQL: it checks the token and that
// the query names the execution, then plays back scripted answers.
type fakeLogAnalytics struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	answers [][][]any // one answer per query; the last one repeats
	queries []string
}

func newFakeLogAnalytics(t *testing.T, answers ...[][]any) *fakeLogAnalytics {
	f := &fakeLogAnalytics{t: t, answers: answers}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLogAnalytics) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+fakeToken ||
		r.Method != http.MethodPost || r.URL.Path != "/v1/workspaces/ws-1/query" {
		f.t.Errorf("fakeLogAnalytics: unexpected %s %s (auth %q)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var body struct{ Query string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("fakeLogAnalytics: body: %v", err)
	}
	f.queries = append(f.queries, body.Query)
	i := min(len(f.queries), len(f.answers)) - 1
	writeJSON(w, http.StatusOK, map[string]any{"tables": []any{map[string]any{
		"name": "PrimaryResult", "rows": f.answers[i],
	}}})
}

func newTestLogAnalytics(t *testing.T, f *fakeLogAnalytics, settle time.Duration) *LogAnalytics {
	t.Helper()
	l, err := NewLogAnalytics(LogAnalyticsOptions{
		WorkspaceID:   "ws-1",
		Credential:    &fakeCredential{audience: f.srv.URL},
		Endpoint:      f.srv.URL,
		Settle:        settle,
		PollInterval:  time.Millisecond,
		ClientOptions: &policy.ClientOptions{Transport: f.srv.Client()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func row(kind, text string) []any { return []any{"2026-01-01T00:00:00Z", kind, text} }

func TestLogAnalyticsWaitsForExitRecord(t *testing.T) {
	early := [][]any{row("stdout", "hello")}
	late := [][]any{
		row("stdout", "hello"), row("stderr", "oops"),
		row("system", "Container 'fetch' was terminated with exit code '0' and reason 'ProcessExited'"),
		row("system", "Container 'run' was terminated with exit code '3' and reason 'ProcessExited'"),
	}
	f := newFakeLogAnalytics(t, early, late)
	l := newTestLogAnalytics(t, f, time.Minute)

	logs, err := l.ReadLogs(t.Context(), "devmesh-sandbox-x1", "run", 1024)
	if err != nil {
		t.Fatal(err)
	}
	if string(logs.Stdout) != "hello\n" || string(logs.Stderr) != "oops\n" || logs.ExitCode != 3 {
		t.Errorf("got stdout %q stderr %q exit %d, want hello, oops, 3", logs.Stdout, logs.Stderr, logs.ExitCode)
	}
	if len(f.queries) != 2 {
		t.Errorf("got %d queries, want 2 (until the exit record arrived)", len(f.queries))
	}
	if q := f.queries[0]; !strings.Contains(q, `"devmesh-sandbox-x1-"`) || !strings.Contains(q, `== "run"`) {
		t.Errorf("query does not select the execution and container:\n%s", q)
	}
}

func TestLogAnalyticsGivesUpAfterSettle(t *testing.T) {
	f := newFakeLogAnalytics(t, [][]any{row("stdout", "partial")})
	l := newTestLogAnalytics(t, f, 20*time.Millisecond)
	logs, err := l.ReadLogs(t.Context(), "exec-1", "run", 1024)
	if err != nil || logs.ExitCode != -1 || string(logs.Stdout) != "partial\n" {
		t.Errorf("got %q exit %d err %v, want partial output and exit -1", logs.Stdout, logs.ExitCode, err)
	}
}

func TestLogAnalyticsKeepsToLimit(t *testing.T) {
	f := newFakeLogAnalytics(t, [][]any{
		row("stdout", strings.Repeat("a", 10)), row("stderr", strings.Repeat("b", 10)),
		row("system", "Container 'run' was terminated with exit code '0'"),
	})
	l := newTestLogAnalytics(t, f, time.Minute)
	logs, _ := l.ReadLogs(t.Context(), "exec-1", "run", 15)
	if got := len(logs.Stdout) + len(logs.Stderr); got != 15 {
		t.Errorf("got %d bytes, want the limit 15", got)
	}
}

// TestLogAnalyticsRefusesQueryInjection passes names that would change
// the query's meaning; none may reach the service.
func TestLogAnalyticsRefusesQueryInjection(t *testing.T) {
	f := newFakeLogAnalytics(t, [][]any{})
	l := newTestLogAnalytics(t, f, time.Minute)
	for _, name := range []string{`x" or 1==1 or "`, "x\n| take 1", "", "Exec"} {
		if _, err := l.ReadLogs(t.Context(), name, "run", 10); err == nil {
			t.Errorf("ReadLogs(%q): got no error", name)
		}
		if _, err := l.ReadLogs(t.Context(), "exec-1", name, 10); err == nil {
			t.Errorf("ReadLogs container %q: got no error", name)
		}
	}
	if len(f.queries) != 0 {
		t.Errorf("got %d queries, want none", len(f.queries))
	}
}

// FuzzAssemble feeds arbitrary rows to the result parser: it must not
// panic and must keep to the limit.
func FuzzAssemble(f *testing.F) {
	f.Add("stdout", "hello", "Container 'run' was terminated with exit code '7'", int64(100))
	f.Add("stderr", "", "Container 'run' was terminated with exit code '99999999999999999999'", int64(0))
	f.Fuzz(func(t *testing.T, kind, text, sys string, limit int64) {
		limit = max(limit, 0)
		rows := [][]any{row(kind, text), row("system", sys), {1.5}, row("stderr", text)}
		logs, _ := assemble(rows, "run", limit)
		if logs.ExitCode < -1 || logs.ExitCode > 255 {
			t.Fatalf("exit code %d out of range", logs.ExitCode)
		}
		if n := int64(len(logs.Stdout) + len(logs.Stderr)); n > limit {
			t.Fatalf("kept %d bytes, over the limit %d", n, limit)
		}
	})
}
