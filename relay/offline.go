package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/devmesh/devmesh/ledger"
)

// OfflineModelID is the model id of the offline demonstration model.
const OfflineModelID = "devmesh-offline-demo"

// Offline is a deterministic stand-in for a language model, for the
// embedded mode and for tests. It is not a language model and says so
// in every answer: it reports what it received and, when the last user
// message starts with "/tool ", calls the first tool it was given.
// Usage is counted in words of its answer (output) and in o200k tokens
// of the request (input), so it is always within the reservation.
type Offline struct{}

var _ Provider = Offline{}

// Name implements Provider.
func (Offline) Name() string { return "offline" }

// Stream implements Provider.
func (Offline) Stream(ctx context.Context, req *Request) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in := inputBound(req, BoundTiktoken, 1) - perRequestTokens
	return &offlineStream{ctx: ctx, events: offlineAnswer(req, max(in, 1))}, nil
}

func offlineAnswer(req *Request, input int64) []Event {
	last := lastUserPart(req)
	if last.Kind == PartText && strings.HasPrefix(last.Text, "/tool ") && len(req.Tools) > 0 {
		args, _ := json.Marshal(map[string]string{"echo": strings.TrimPrefix(last.Text, "/tool ")})
		return []Event{
			{Kind: EventToolCall, Index: 0, CallID: "call_offline_0", Name: req.Tools[0].Name},
			{Kind: EventToolArgs, Index: 0, Text: string(args)},
			{Kind: EventStop, Stop: StopToolCalls},
			{Kind: EventUsage, Usage: ledger.Usage{InputTokens: input, OutputTokens: 1}},
		}
	}
	var said string
	switch last.Kind {
	case PartToolResult:
		said = fmt.Sprintf("The tool returned: %q.", clip(last.Text, 200))
	default:
		said = fmt.Sprintf("You wrote: %q.", clip(last.Text, 200))
	}
	text := "[" + OfflineModelID + "] This is DevMesh's offline demonstration model, " +
		"not a real AI; its answers are canned. " + said
	words := strings.SplitAfter(text, " ")
	stop := StopEnd
	if limit := req.MaxTokens; limit > 0 && int64(len(words)) > limit {
		words, stop = words[:limit], StopLength
	}
	events := make([]Event, 0, len(words)+2)
	for _, w := range words {
		events = append(events, Event{Kind: EventText, Text: w})
	}
	return append(events, Event{Kind: EventStop, Stop: stop},
		Event{Kind: EventUsage, Usage: ledger.Usage{InputTokens: input, OutputTokens: int64(len(words))}})
}

func lastUserPart(req *Request) Part {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role == RoleUser && len(m.Parts) > 0 {
			return m.Parts[len(m.Parts)-1]
		}
	}
	return Part{}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

type offlineStream struct {
	ctx    context.Context
	events []Event
}

func (s *offlineStream) Next() (Event, error) {
	if err := s.ctx.Err(); err != nil {
		return Event{}, err
	}
	if len(s.events) == 0 {
		return Event{}, io.EOF
	}
	e := s.events[0]
	s.events = s.events[1:]
	return e, nil
}

func (s *offlineStream) Close() error { return nil }
