package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/relay"
)

// providerKey is the relay's (test) provider key. It must never reach a
// client, a log line or an audit event.
const providerKey = "sk-test-PROVIDERKEY-9d8c7b6a5f4e3d2c1b0a"

// fault is what the test upstream does wrong on one request.
type fault int

const (
	faultNone       fault = iota
	faultSlowFirst        // waits past the relay's first-byte timeout
	faultCut              // ends the stream halfway, without its terminator
	fault500              // answers 500 with the key echoed in the body
	faultNoUsage          // finishes without reporting usage
	faultOverUsage        // reports far more usage than was reserved
	faultSlowStream       // pauses between events (for disconnect tests)
	numFaults
)

// upstream is an OpenAI- and Anthropic-compatible model server written
// for the tests. It answers "Hello from upstream." (or a tool call when
// the request offers tools and the prompt starts with "/tool"), and
// injects the fault that pick returns.
type upstream struct {
	*httptest.Server
	pick     func() fault
	slow     time.Duration
	mu       sync.Mutex
	requests []upstreamRequest
}

type upstreamRequest struct {
	Path   string
	Header http.Header
	Body   map[string]any
	Raw    string
	// Cancelled is closed when the relay cancelled the request.
	Cancelled chan struct{}
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{pick: func() fault { return faultNone }, slow: 500 * time.Millisecond}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	mux.HandleFunc("POST /openai/deployments/{d}/chat/completions", u.chat)
	mux.HandleFunc("POST /v1/messages", u.messages)
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) record(r *http.Request) (upstreamRequest, bool) {
	raw, _ := io.ReadAll(r.Body)
	rec := upstreamRequest{Path: r.URL.Path, Header: r.Header.Clone(), Raw: string(raw),
		Cancelled: make(chan struct{})}
	json.Unmarshal(raw, &rec.Body)
	go func() { <-r.Context().Done(); close(rec.Cancelled) }()
	u.mu.Lock()
	u.requests = append(u.requests, rec)
	u.mu.Unlock()
	return rec, wantsTool(rec.Body)
}

func (u *upstream) last() upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[len(u.requests)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func wantsTool(body map[string]any) bool {
	tools, _ := body["tools"].([]any)
	return len(tools) > 0 && strings.Contains(fmt.Sprint(body["messages"]), "/tool")
}

func (u *upstream) authorized(w http.ResponseWriter, r *http.Request) bool {
	got := r.Header.Get("x-api-key")
	if got == "" {
		got = r.Header.Get("api-key")
	}
	if got == "" {
		got = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if got == providerKey {
		return true
	}
	// Like real providers, echo part of the rejected key.
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s. Your key %s is invalid."}}`, got, providerKey[:12])
	return false
}

// start applies the faults that act before the first byte and returns
// the fault for the rest of the answer, or false when it answered.
func (u *upstream) start(w http.ResponseWriter, r *http.Request) (fault, bool) {
	f := u.pick()
	switch f {
	case faultSlowFirst:
		select {
		case <-time.After(u.slow):
		case <-r.Context().Done():
			return f, false
		}
	case fault500:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":{"message":"upstream exploded while using key %s"}}`, providerKey)
		return f, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return f, true
}

func sse(w http.ResponseWriter, event, data string) {
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

func (u *upstream) pause(r *http.Request, f fault) bool {
	if f != faultSlowStream {
		return true
	}
	select {
	case <-time.After(u.slow / 10):
		return true
	case <-r.Context().Done():
		return false
	}
}

var upstreamWords = []string{"Hello ", "from ", "upstream."}

func (u *upstream) chat(w http.ResponseWriter, r *http.Request) {
	rec, tool := u.record(r)
	if !u.authorized(w, r) {
		return
	}
	f, ok := u.start(w, r)
	if !ok {
		return
	}
	chunk := func(delta string, finish string) {
		fin := "null"
		if finish != "" {
			fin = `"` + finish + `"`
		}
		sse(w, "", `{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":`+delta+`,"finish_reason":`+fin+`}],"usage":null}`)
	}
	chunk(`{"role":"assistant","content":""}`, "")
	finish := "stop"
	if tool {
		chunk(`{"tool_calls":[{"index":0,"id":"call_up_1","type":"function","function":{"name":"run_tests","arguments":""}}]}`, "")
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}`, "")
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"a.py\"}"}}]}`, "")
		finish = "tool_calls"
	} else {
		for i, word := range upstreamWords {
			if f == faultCut && i == 1 {
				return
			}
			if !u.pause(r, f) {
				return
			}
			b, _ := json.Marshal(word)
			chunk(`{"content":`+string(b)+`}`, "")
		}
	}
	chunk(`{}`, finish)
	prompt, completion := usageFor(rec, f)
	if f != faultNoUsage {
		sse(w, "", fmt.Sprintf(`{"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":4}}}`,
			prompt, completion, prompt+completion))
	}
	sse(w, "", "[DONE]")
}

// usageFor reports 20 input tokens (4 of them cached) and 3 output
// tokens, or a million of each for faultOverUsage.
func usageFor(_ upstreamRequest, f fault) (int64, int64) {
	if f == faultOverUsage {
		return 1_000_000, 1_000_000
	}
	return 20, 3
}

func (u *upstream) messages(w http.ResponseWriter, r *http.Request) {
	rec, tool := u.record(r)
	if !u.authorized(w, r) {
		return
	}
	f, ok := u.start(w, r)
	if !ok {
		return
	}
	prompt, completion := usageFor(rec, f)
	sse(w, "message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_up","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":%d,"cache_read_input_tokens":4,"output_tokens":1,"service_tier":"standard"}}}`, prompt-4))
	sse(w, "ping", `{"type":"ping"}`)
	stop := "end_turn"
	if tool {
		sse(w, "content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_up_1","name":"run_tests","input":{}}}`)
		sse(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}`)
		sse(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"a.py\"}"}}`)
		sse(w, "content_block_stop", `{"type":"content_block_stop","index":0}`)
		stop = "tool_use"
	} else {
		sse(w, "content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for i, word := range upstreamWords {
			if f == faultCut && i == 1 {
				return
			}
			if !u.pause(r, f) {
				return
			}
			b, _ := json.Marshal(word)
			sse(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
		}
		sse(w, "content_block_stop", `{"type":"content_block_stop","index":0}`)
	}
	usage := ""
	if f != faultNoUsage {
		// Cumulative: an early partial count, then the final one.
		sse(w, "message_delta", `{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":1}}`)
		usage = fmt.Sprintf(`,"usage":{"output_tokens":%d}`, completion)
	}
	sse(w, "message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null}`+usage+`}`)
	sse(w, "message_stop", `{"type":"message_stop"}`)
}

// upstreamModels routes one model to each upstream flavour.
func upstreamModels(u *upstream) []relay.Model {
	key := secret.New(providerKey)
	return []relay.Model{
		{ID: "gpt-test", Provider: relay.NewOpenAI(u.URL+"/v1", key, u.Client()), Bound: relay.BoundTiktoken},
		{ID: "claude-test", Provider: relay.NewAnthropic(u.URL, key, u.Client()), Upstream: "claude-upstream"},
		{ID: "azure-test", Provider: relay.NewAzureOpenAI(u.URL, "dep1", "2024-10-21", key, u.Client()), Bound: relay.BoundTiktoken},
		{ID: "compat-test", Provider: relay.NewOpenAICompatible("vllm", u.URL+"/v1", key, u.Client())},
	}
}
