package runner

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store/storetest"
)

func TestNoRunsAfterTheDeadlineButSubmitStillWorks(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	b := sampleTask(t, nil)
	a := e.assessment(b)
	ctx := context.Background()
	hash := e.db.NewID("invite")
	sub, err := e.db.CreateSubmission(ctx, e.org.ID, a.ID, "late@example.com", hash, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// A session of one millisecond, already over.
	if _, err := e.db.OpenSubmission(ctx, hash, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.appendStarter(sub.ID, b)
	time.Sleep(5 * time.Millisecond)

	st, body := e.do("POST", "/api/v1/session/runs", sub.ID, map[string]string{"command": CommandTest})
	if st != http.StatusConflict || !strings.Contains(string(body), "time is up") {
		t.Fatalf("run after the deadline: %d %s; want 409 saying time is up", st, body)
	}
	if st, body := e.do("POST", "/api/v1/session/submit", sub.ID, nil); st != http.StatusOK {
		t.Fatalf("submit after the deadline: %d %s; want 200", st, body)
	}
}
