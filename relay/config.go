package relay

import (
	"errors"
	"fmt"
	"time"
)

// Bound says how the relay bounds a model's input tokens from above
// before sending a request.
type Bound int

// Input bounds.
const (
	// BoundBytes counts UTF-8 bytes: every tokenizer the relay meets maps
	// at least one byte to each token, so this never undercounts. Use it
	// when the model's tokenizer is not public (Anthropic models,
	// arbitrary OpenAI-compatible servers).
	BoundBytes Bound = iota
	// BoundTiktoken counts with OpenAI's o200k_base tokenizer plus a
	// per-message overhead. Use it for OpenAI models.
	BoundTiktoken
)

// Model is a model the relay offers, and where it runs.
type Model struct {
	// ID is the name clients use and tasks allow.
	ID string
	// Provider serves it.
	Provider Provider
	// Upstream is the provider's name for it; empty means ID.
	Upstream string
	// Bound bounds its input tokens.
	Bound Bound
}

// Config sets the relay's models and limits.
type Config struct {
	Models []Model
	// DefaultMaxOutput is the output ceiling injected when the client
	// sets none. It shrinks to what the budget still allows.
	DefaultMaxOutput int64
	// MaxOutput caps any client's output ceiling.
	MaxOutput int64
	// MinOutput is the smallest injected ceiling worth sending; below
	// it the request is refused as over budget.
	MinOutput int64
	// MaxConcurrent bounds a submission's requests in flight.
	MaxConcurrent int
	// RequestsPerMinute bounds a submission's request rate.
	RequestsPerMinute int
	// FirstByteTimeout bounds the wait for the provider's first event;
	// the reservation is released when it passes.
	FirstByteTimeout time.Duration
	// RequestTimeout bounds a whole request, stream included.
	RequestTimeout time.Duration
	// MaxBody bounds request bodies (images make them large).
	MaxBody int64
	// ImageTokens is the input bound charged per image.
	ImageTokens int64
}

// DefaultConfig returns limits that suit an interview-length session;
// add Models before use.
func DefaultConfig() Config {
	return Config{
		DefaultMaxOutput:  4096,
		MaxOutput:         32768,
		MinOutput:         16,
		MaxConcurrent:     4,
		RequestsPerMinute: 60,
		FirstByteTimeout:  60 * time.Second,
		RequestTimeout:    10 * time.Minute,
		MaxBody:           16 << 20,
		ImageTokens:       2000,
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	if len(c.Models) == 0 {
		bad("no models configured")
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		switch {
		case m.ID == "":
			bad("model with empty id")
		case seen[m.ID]:
			bad("model %q configured twice", m.ID)
		case m.Provider == nil:
			bad("model %q has no provider", m.ID)
		}
		seen[m.ID] = true
	}
	if c.DefaultMaxOutput <= 0 || c.MaxOutput < c.DefaultMaxOutput {
		bad("invalid output ceilings: default %d, max %d", c.DefaultMaxOutput, c.MaxOutput)
	}
	if c.MinOutput <= 0 || c.MinOutput > c.DefaultMaxOutput {
		bad("invalid minimum output %d", c.MinOutput)
	}
	if c.MaxConcurrent <= 0 || c.RequestsPerMinute <= 0 {
		bad("invalid limits: %d concurrent, %d per minute", c.MaxConcurrent, c.RequestsPerMinute)
	}
	if c.FirstByteTimeout <= 0 || c.RequestTimeout < c.FirstByteTimeout {
		bad("invalid timeouts: first byte %v, request %v", c.FirstByteTimeout, c.RequestTimeout)
	}
	if c.MaxBody <= 0 || c.ImageTokens <= 0 {
		bad("invalid body limit %d or image bound %d", c.MaxBody, c.ImageTokens)
	}
	return errors.Join(problems...)
}
