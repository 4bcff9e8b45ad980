package relay_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/devmesh/devmesh/relay"
)

func TestRelayRefusesAfterTheDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline time.Time
		want     int
	}{
		{"before the deadline", time.Now().Add(time.Hour), http.StatusOK},
		{"after the deadline", time.Now().Add(-time.Second), http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, offlineModels(), func(_ *relay.Config, p *relay.Policy) { p.Deadline = tt.deadline })
			body := []byte(`{"model":"` + relay.OfflineModelID + `","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}`)
			req, _ := http.NewRequest("POST", e.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+candidateToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusOK {
				if b := e.balance(t); b.Used != 0 || b.Reserved != 0 {
					t.Fatalf("a refused request touched the ledger: %+v", b)
				}
			}
		})
	}
}
