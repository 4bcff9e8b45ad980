package demo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/devmesh/devmesh/audit"
)

type flow struct {
	recruiter, candidate string
	taskID, assessmentID string
	submissionID, invite string
	runID, digest        string
	seq                  int64
	vkey                 string
	receipts             int
}

func (r *runner) run() (Result, error) {
	var f flow
	steps := []struct {
		name string
		fn   func(*flow) (string, error)
	}{
		{"server is healthy", r.health},
		{"recruiter signs in", r.login},
		{"sample task is listed", r.findTask},
		{"assessment is created", r.createAssessment},
		{"candidate is invited", r.inviteCandidate},
		{"invite is exchanged for a token", r.exchange},
		{"invite cannot be used twice", r.exchangeAgain},
		{"candidate edits the workspace", r.edit},
		{"tests run in the sandbox and pass", r.testRun},
		{"AI assistant answers via the relay", r.askAI},
		{"candidate submits", r.submit},
		{"candidate token stops working", r.tokenRevoked},
		{"replay matches the submitted files", r.replay},
		{"every receipt verifies offline", r.receipts},
	}
	var res Result
	for _, s := range steps {
		if s.name == "AI assistant answers via the relay" && r.cfg.SkipAI {
			continue
		}
		if err := r.check(s.name, func() (string, error) { return s.fn(&f) }); err != nil {
			return res, err
		}
	}
	res.SubmissionID, res.Digest, res.Receipts = f.submissionID, f.digest, f.receipts
	return res, nil
}

func (r *runner) health(f *flow) (string, error) {
	var out map[string]string
	if err := r.call("GET", "/readyz", "", nil, 200, &out); err != nil {
		return "", err
	}
	return r.cfg.URL, nil
}

func (r *runner) login(f *flow) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	body := map[string]string{"email": r.cfg.Email, "password": r.cfg.Password.Reveal()}
	if err := r.call("POST", "/api/v1/login", "", body, 200, &out); err != nil {
		return "", err
	}
	f.recruiter = out.AccessToken
	return fmt.Sprintf("%s, token valid %ds", r.cfg.Email, out.ExpiresIn), nil
}

func (r *runner) findTask(f *flow) (string, error) {
	var out struct {
		Tasks []struct{ ID, Name, Version, Digest string } `json:"tasks"`
	}
	if err := r.call("GET", "/api/v1/tasks", f.recruiter, nil, 200, &out); err != nil {
		return "", err
	}
	for _, t := range out.Tasks {
		if t.Name == "run-length-encoding" {
			f.taskID = t.ID
			return fmt.Sprintf("%s %s %s", t.Name, t.Version, t.Digest[:19]), nil
		}
	}
	return "", fmt.Errorf("no run-length-encoding task among %d tasks", len(out.Tasks))
}

func (r *runner) createAssessment(f *flow) (string, error) {
	var out struct{ ID string }
	body := map[string]string{"task_id": f.taskID, "title": "DevMesh demo " + time.Now().UTC().Format(time.RFC3339)}
	if err := r.call("POST", "/api/v1/assessments", f.recruiter, body, 201, &out); err != nil {
		return "", err
	}
	f.assessmentID = out.ID
	return out.ID, nil
}

func (r *runner) inviteCandidate(f *flow) (string, error) {
	var out struct {
		SubmissionID string `json:"submission_id"`
		InviteToken  string `json:"invite_token"`
	}
	body := map[string]string{"email": "demo-candidate@example.com"}
	if err := r.call("POST", "/api/v1/assessments/"+f.assessmentID+"/invitations", f.recruiter, body, 201, &out); err != nil {
		return "", err
	}
	f.submissionID, f.invite = out.SubmissionID, out.InviteToken
	return out.SubmissionID, nil
}

func exchangeForm(invite string) url.Values {
	return url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {invite},
		"subject_token_type": {"urn:devmesh:params:oauth:token-type:invite"},
	}
}

func (r *runner) exchange(f *flow) (string, error) {
	var out struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
	}
	if err := r.call("POST", "/oauth/token", "", exchangeForm(f.invite), 200, &out); err != nil {
		return "", err
	}
	f.candidate = out.AccessToken
	return out.IssuedTokenType, nil
}

func (r *runner) exchangeAgain(f *flow) (string, error) {
	var out struct {
		Error string `json:"error"`
	}
	if err := r.call("POST", "/oauth/token", "", exchangeForm(f.invite), 400, &out); err != nil {
		return "", err
	}
	if out.Error != "invalid_grant" {
		return "", fmt.Errorf("second exchange: error %q, want invalid_grant", out.Error)
	}
	return "invalid_grant", nil
}

func (r *runner) edit(f *flow) (string, error) {
	batch := map[string]any{"events": []map[string]any{
		{"id": "demo-1", "kind": "editor.ops", "payload": map[string]any{"op": "delete", "file": "rle.py"}},
		{"id": "demo-2", "kind": "editor.ops", "payload": map[string]any{"op": "create", "file": "rle.py", "content": solution}},
	}}
	var out struct {
		Acks []struct{ Index, Seq int64 } `json:"acks"`
	}
	if err := r.call("POST", "/api/v1/session/events", f.candidate, batch, 200, &out); err != nil {
		return "", err
	}
	if len(out.Acks) != 2 {
		return "", fmt.Errorf("%d acks for 2 events", len(out.Acks))
	}
	return fmt.Sprintf("rle.py rewritten, acknowledged at seq %d", out.Acks[1].Seq), nil
}

func (r *runner) testRun(f *flow) (string, error) {
	var started struct {
		RunID string `json:"run_id"`
	}
	if err := r.call("POST", "/api/v1/session/runs", f.candidate, map[string]string{"command": "test"}, 202, &started); err != nil {
		return "", err
	}
	f.runID = started.RunID
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var run struct {
			Status   string `json:"status"`
			Outcome  string `json:"outcome"`
			ExitCode int    `json:"exit_code"`
			Output   string `json:"output"`
			Reason   string `json:"reason"`
		}
		if err := r.call("GET", "/api/v1/session/runs/"+f.runID, f.candidate, nil, 200, &run); err != nil {
			return "", err
		}
		switch run.Status {
		case "finished", "failed":
			if run.Outcome != "ok" {
				return "", fmt.Errorf("run %s ended %s/%s (exit %d) %s: %s", f.runID, run.Status,
					run.Outcome, run.ExitCode, run.Reason, lastLines(run.Output, 5))
			}
			return fmt.Sprintf("%s: %s", f.runID, lastLines(run.Output, 1)), nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("run %s did not finish within 2 minutes; is a runner taking jobs?", f.runID)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (r *runner) askAI(f *flow) (string, error) {
	body := map[string]any{
		"model":      "devmesh-offline-demo",
		"max_tokens": 64,
		"messages":   []map[string]string{{"role": "user", "content": "How do I run-length encode a string in Python?"}},
	}
	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := r.call("POST", "/v1/chat/completions", f.candidate, body, 200, &out); err != nil {
		return "", err
	}
	if len(out.Choices) == 0 || out.Choices[0].Message.Content == "" {
		return "", fmt.Errorf("the relay answered with no content")
	}
	var session struct {
		AIBudget *struct{ Budget, Used, Remaining int64 } `json:"ai_budget"`
	}
	if err := r.call("GET", "/api/v1/session", f.candidate, nil, 200, &session); err != nil {
		return "", err
	}
	if b := session.AIBudget; b == nil || b.Used != int64(out.Usage.TotalTokens) || b.Remaining != b.Budget-b.Used {
		return "", fmt.Errorf("session budget %+v does not show the %d tokens charged", session.AIBudget, out.Usage.TotalTokens)
	}
	if err := r.call("POST", "/v1/chat/completions", f.recruiter, body, 401, nil); err != nil {
		return "", fmt.Errorf("a recruiter token must not reach the relay: %w", err)
	}
	return fmt.Sprintf("%d tokens charged to the submission's budget", out.Usage.TotalTokens), nil
}

func (r *runner) submit(f *flow) (string, error) {
	var out struct {
		Digest string `json:"digest"`
		Seq    int64  `json:"seq"`
	}
	if err := r.call("POST", "/api/v1/session/submit", f.candidate, nil, 200, &out); err != nil {
		return "", err
	}
	f.digest, f.seq = out.Digest, out.Seq
	return fmt.Sprintf("workspace %s at seq %d", out.Digest, out.Seq), nil
}

func (r *runner) tokenRevoked(f *flow) (string, error) {
	if err := r.call("GET", "/api/v1/session", f.candidate, nil, 401, nil); err != nil {
		return "", err
	}
	return "401 after submit", nil
}

func (r *runner) replay(f *flow) (string, error) {
	var out struct {
		Files []struct{ Path, Content string } `json:"files"`
	}
	path := fmt.Sprintf("/api/v1/submissions/%s/replay?seq=%d", f.submissionID, f.seq)
	if err := r.call("GET", path, f.recruiter, nil, 200, &out); err != nil {
		return "", err
	}
	for _, file := range out.Files {
		if file.Path == "rle.py" {
			if file.Content != solution {
				return "", fmt.Errorf("replayed rle.py differs from what the candidate wrote")
			}
			return fmt.Sprintf("%d files rebuilt from the log alone", len(out.Files)), nil
		}
	}
	return "", fmt.Errorf("replay at seq %d has no rle.py", f.seq)
}

func (r *runner) receipts(f *flow) (string, error) {
	var key string
	if err := r.call("GET", "/api/v1/log/key", "", nil, 200, &key); err != nil {
		return "", err
	}
	f.vkey = strings.TrimSpace(key)
	total, after := 0, int64(0)
	kinds := map[string]int{}
	for {
		var page struct {
			Receipts  []json.RawMessage `json:"receipts"`
			NextAfter *int64            `json:"next_after"`
		}
		path := fmt.Sprintf("/api/v1/submissions/%s/events?after=%d", f.submissionID, after)
		if err := r.call("GET", path, f.recruiter, nil, 200, &page); err != nil {
			return "", err
		}
		for _, raw := range page.Receipts {
			var rc audit.Receipt
			if err := json.Unmarshal(raw, &rc); err != nil {
				return "", fmt.Errorf("decode receipt: %w", err)
			}
			if err := audit.VerifyReceipt(rc, f.vkey); err != nil {
				return "", fmt.Errorf("receipt of event %d: %w", rc.Index, err)
			}
			kinds[string(rc.Event.Kind)]++
			total++
		}
		if page.NextAfter == nil {
			break
		}
		after = *page.NextAfter
	}
	if total == 0 {
		return "", fmt.Errorf("the submission has no events")
	}
	want := []string{"submission.opened", "editor.ops", "workspace.snapshot", "run.started", "run.finished", "submission.submitted"}
	if !r.cfg.SkipAI {
		want = append(want, "ai.request", "ai.response", "ledger.reserved", "ledger.settled")
	}
	for _, k := range want {
		if kinds[k] == 0 {
			return "", fmt.Errorf("no %s event among %d receipts", k, total)
		}
	}
	f.receipts = total
	return fmt.Sprintf("%d receipts (%d kinds)", total, len(kinds)), nil
}
