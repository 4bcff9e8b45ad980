package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
)

// UpstreamError is a provider's refusal, with a message that is safe to
// show the client: sanitised of anything that looks like a credential.
type UpstreamError struct {
	Provider string
	Status   int
	Message  string
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.Provider, e.Status, e.Message)
}

// clientError turns an upstream failure into the error the client sees.
// A provider's 4xx about the request is the client's to fix; its
// authentication and rate-limit problems are the operator's, and are not
// described to the client.
func clientError(err error) error {
	var ue *UpstreamError
	switch {
	case errors.As(err, &ue) && (ue.Status == http.StatusBadRequest ||
		ue.Status == http.StatusNotFound || ue.Status == http.StatusUnprocessableEntity ||
		ue.Status == http.StatusRequestEntityTooLarge):
		return errs.Wrap(errs.Invalid, err, "the model provider rejected the request: "+ue.Message)
	case errors.Is(err, errFirstByte):
		return errs.Wrap(errs.Unavailable, err, "the model provider did not answer in time")
	}
	return errs.Wrap(errs.Unavailable, err, "the model provider is unavailable")
}

// maxErrorBody bounds how much of a provider's error body is read.
const maxErrorBody = 64 << 10

// credentialLike matches strings shaped like API keys and bearer tokens:
// provider key prefixes, JWTs and long opaque runs.
var credentialLike = regexp.MustCompile(
	`(?i)(sk-[a-z0-9_\-]{3,}|key-[a-z0-9_\-]{3,}|bearer\s+\S+|eyJ[a-z0-9_\-]+\.[a-z0-9_\-.]*|[a-z0-9_\-]{24,})`)

// upstreamError reads a provider's error response and builds a
// sanitised UpstreamError. Providers echo parts of a rejected key in
// their messages ("Incorrect API key provided: sk-ab***yz"), so the
// message loses anything credential-like and any 6-byte run of key.
func upstreamError(provider string, resp *http.Response, key secret.String) *UpstreamError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var parsed struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &parsed) == nil {
		msg = parsed.Error.Message
		if msg == "" {
			msg = parsed.Message
		}
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &UpstreamError{Provider: provider, Status: resp.StatusCode, Message: sanitize(msg, key)}
}

// sanitize removes credential-like text and any fragment of key from
// msg and bounds its length.
func sanitize(msg string, key secret.String) string {
	k := key.Reveal()
	const frag = 6
	for i := 0; i+frag <= len(k); i++ {
		msg = strings.ReplaceAll(msg, k[i:i+frag], "[redacted]")
	}
	msg = credentialLike.ReplaceAllString(msg, "[redacted]")
	if len(msg) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// doStream posts body to url and returns the response of a 2xx, or an
// UpstreamError. Transport errors are returned as they are (they carry
// no credentials: the key travels in a header).
func doStream(ctx context.Context, hc *http.Client, provider, url string, body []byte,
	header http.Header, key secret.String) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", provider, err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", provider, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, upstreamError(provider, resp, key)
	}
	return resp, nil
}
