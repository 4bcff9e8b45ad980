// Package demo drives one whole assessment through DevMesh's public API,
// as a recruiter and a candidate would, and checks every step: sign-in,
// task, assessment, invite, token exchange, editing, a sandboxed test run,
// an AI request through the relay, submit, and finally every event's
// receipt, verified offline against the log's public key.
//
// It is an operator's end-to-end smoke test: `devmesh demo` exits 0 only
// if every step and every receipt checks.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
)

// Config says which server to drive and as whom.
type Config struct {
	URL      string // base URL, such as https://127.0.0.1:8443
	Email    string // a recruiter allowed to invite
	Password secret.String
	Client   *http.Client
	Out      io.Writer // one line per step
	// SkipAI leaves out the relay step, for servers without a model.
	SkipAI bool
}

// Result is what a demo run produced.
type Result struct {
	SubmissionID string
	Digest       string
	Receipts     int
}

// StepError names the step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

type runner struct {
	cfg  Config
	ctx  context.Context
	step int
}

// Run drives the assessment. Its error is a *StepError.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	r := &runner{cfg: cfg, ctx: ctx}
	return r.run()
}

// check runs one step and prints its outcome.
func (r *runner) check(name string, fn func() (string, error)) error {
	r.step++
	start := time.Now()
	detail, err := fn()
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		fmt.Fprintf(r.cfg.Out, "%2d. FAIL %-34s %v\n", r.step, name, err)
		return &StepError{Step: name, Err: err}
	}
	fmt.Fprintf(r.cfg.Out, "%2d. ok   %-34s %s (%s)\n", r.step, name, detail, took)
	return nil
}

// call sends a request and decodes a JSON reply into out (if non-nil). A
// status other than want is an error quoting the server's message.
func (r *runner) call(method, path, token string, body any, want int, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.cfg.URL+path, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want,
			strings.TrimSpace(string(data[:min(len(data), 300)])))
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
	}
	return nil
}

// solution is the demo candidate's answer to the sample task, written for
// this demo.
const solution = `"""Run-length encoding, as the demo candidate wrote it."""
import itertools


def encode(text: str) -> str:
    if any(ch.isdigit() for ch in text):
        raise ValueError("digits cannot be encoded")
    return "".join(f"{len(list(group))}{ch}" for ch, group in itertools.groupby(text))


def decode(data: str) -> str:
    out, count = [], ""
    for ch in data:
        if ch.isdigit():
            if not count and ch == "0":
                raise ValueError("a count cannot start with 0")
            count += ch
            continue
        if not count:
            raise ValueError(f"character {ch!r} has no count")
        out.append(ch * int(count))
        count = ""
    if count:
        raise ValueError("count without a character")
    return "".join(out)
`
