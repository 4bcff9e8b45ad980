package relay

import (
	"context"
	"encoding/json"

	"github.com/devmesh/devmesh/ledger"
)

// Request is the relay's neutral form of a model request. Every inbound
// format (OpenAI chat, OpenAI Responses, Anthropic Messages) decodes to
// it and every provider encodes from it, so any endpoint reaches any
// provider. Parameters that have no neutral form are dropped.
type Request struct {
	Model       string     `json:"model"`
	System      string     `json:"system,omitempty"`
	Messages    []Message  `json:"messages"`
	Tools       []Tool     `json:"tools,omitempty"`
	ToolChoice  ToolChoice `json:"tool_choice,omitzero"`
	MaxTokens   int64      `json:"max_tokens"`
	Temperature *float64   `json:"temperature,omitempty"`
	TopP        *float64   `json:"top_p,omitempty"`
	Stop        []string   `json:"stop,omitempty"`
	Stream      bool       `json:"stream"`
	// IncludeUsage is set when a chat client asked for the usage chunk
	// (stream_options.include_usage); other clients always get usage.
	IncludeUsage bool `json:"-"`

	// Header holds provider headers the client sent that the relay
	// forwards (anthropic-version, anthropic-beta). Never credentials.
	Header map[string]string `json:"header,omitempty"`
}

// Roles of a Message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn. Tool results travel in user turns, as parts.
type Message struct {
	Role  string `json:"role"`
	Parts []Part `json:"parts"`
}

// PartKind says what a Part holds.
type PartKind string

// Part kinds.
const (
	PartText       PartKind = "text"
	PartImage      PartKind = "image"
	PartToolCall   PartKind = "tool_call"
	PartToolResult PartKind = "tool_result"
)

// Part is one piece of a message.
type Part struct {
	Kind PartKind `json:"kind"`
	Text string   `json:"text,omitempty"`
	// ImageURL is an https URL or a data: URL with base64 content.
	ImageURL string `json:"image_url,omitempty"`
	// CallID links a tool call to its result.
	CallID string `json:"call_id,omitempty"`
	Name   string `json:"name,omitempty"`
	// Arguments is the tool call's arguments as JSON text.
	Arguments string `json:"arguments,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolChoice constrains tool use: Mode is "", "auto", "none", "required"
// or "tool" (then Name names it).
type ToolChoice struct {
	Mode string `json:"mode,omitempty"`
	Name string `json:"name,omitempty"`
}

// StopReason says why generation ended, in neutral terms.
type StopReason string

// Stop reasons.
const (
	StopEnd       StopReason = "end"        // natural end or a stop sequence
	StopLength    StopReason = "length"     // the output ceiling was hit
	StopToolCalls StopReason = "tool_calls" // the model wants tool results
	StopFiltered  StopReason = "filtered"   // a content filter stopped it
)

// EventKind says what a stream Event carries.
type EventKind int

// Event kinds.
const (
	EventText     EventKind = iota + 1 // Text is a text delta
	EventToolCall                      // a tool call starts: Index, CallID, Name
	EventToolArgs                      // Text is an arguments delta of call Index
	EventStop                          // Stop is the stop reason
	EventUsage                         // Usage is the final, complete usage
)

// Event is one step of a model's streamed answer. Events arrive in
// order: deltas, then one EventStop, then at most one EventUsage.
type Event struct {
	Kind   EventKind
	Index  int // tool call index, from 0
	Text   string
	CallID string
	Name   string
	Stop   StopReason
	Usage  ledger.Usage
}

// Stream is a model's answer in progress. Next returns io.EOF after the
// last event. Close releases the upstream connection; the caller must
// call it.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// Provider runs requests against one model service. Implementations
// always stream from upstream; the relay assembles whole responses for
// clients that did not ask for a stream.
type Provider interface {
	// Name identifies the provider in events and logs.
	Name() string
	// Stream sends req, whose Model is already the upstream model name.
	// An error means nothing was produced: the relay releases the
	// reservation. It must be an *UpstreamError or a context error.
	Stream(ctx context.Context, req *Request) (Stream, error)
}

// Response is a whole answer, assembled from a Stream.
type Response struct {
	ID    string       `json:"id"`
	Model string       `json:"model"`
	Parts []Part       `json:"parts"`
	Stop  StopReason   `json:"stop"`
	Usage ledger.Usage `json:"usage"`
	// UsageKnown is false when the stream ended without reporting usage.
	UsageKnown bool `json:"usage_known"`
}

// apply folds e into the response being assembled.
func (r *Response) apply(e Event) {
	switch e.Kind {
	case EventText:
		if n := len(r.Parts); n > 0 && r.Parts[n-1].Kind == PartText {
			r.Parts[n-1].Text += e.Text
			return
		}
		r.Parts = append(r.Parts, Part{Kind: PartText, Text: e.Text})
	case EventToolCall:
		r.Parts = append(r.Parts, Part{Kind: PartToolCall, CallID: e.CallID, Name: e.Name})
	case EventToolArgs:
		if p := r.toolCall(e.Index); p != nil {
			p.Arguments += e.Text
		}
	case EventStop:
		r.Stop = e.Stop
	case EventUsage:
		r.Usage, r.UsageKnown = e.Usage, true
	}
}

// toolCall returns the index-th tool call part, or nil.
func (r *Response) toolCall(index int) *Part {
	n := 0
	for i := range r.Parts {
		if r.Parts[i].Kind != PartToolCall {
			continue
		}
		if n == index {
			return &r.Parts[i]
		}
		n++
	}
	return nil
}

// Text returns the concatenated text parts.
func (r *Response) Text() string {
	var s string
	for _, p := range r.Parts {
		if p.Kind == PartText {
			s += p.Text
		}
	}
	return s
}
