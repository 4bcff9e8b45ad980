package relay

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/secret"
)

// FuzzSSERoundTrip checks that an event written the way the relay
// writes events reads back unchanged, and that arbitrary input never
// panics or loops.
func FuzzSSERoundTrip(f *testing.F) {
	f.Add("message_start", `{"type":"message_start"}`, []byte("data: x\n\n"))
	f.Add("", "[DONE]", []byte("event: a\ndata: 1\ndata: 2\n\n: comment\n"))
	f.Add("e", "", []byte("data"))
	f.Fuzz(func(t *testing.T, name, data string, raw []byte) {
		r := newSSEReader(bytes.NewReader(raw))
		for i := 0; ; i++ {
			if _, err := r.Next(); err != nil || i > len(raw) {
				break
			}
		}
		if strings.ContainsAny(name+data, "\r\n") {
			return
		}
		var buf bytes.Buffer
		if name != "" {
			buf.WriteString("event: " + name + "\n")
		}
		buf.WriteString("data: " + data + "\n\n")
		ev, err := newSSEReader(&buf).Next()
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		// The writer puts one space after the colon and the reader
		// strips exactly one, so the values come back whole.
		if ev.Event != name || string(ev.Data) != data {
			t.Fatalf("got event %q data %q, want %q %q", ev.Event, ev.Data, name, data)
		}
	})
}

// FuzzDecode feeds arbitrary bodies to every client format: decoding
// never panics, and a decoded request is valid and has a finite,
// positive input bound.
func FuzzDecode(f *testing.F) {
	f.Add(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"tool_result","tool_use_id":"t","content":"ok"}]}]}`)
	f.Add(`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}`)
	f.Add(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}]}`)
	formats := []format{chatFormat{}, messagesFormat{}, responsesFormat{}}
	f.Fuzz(func(t *testing.T, body string) {
		for _, fm := range formats {
			req, err := fm.decode([]byte(body), http.Header{}, false)
			if err != nil {
				continue
			}
			if err := validate(req); err != nil {
				t.Fatalf("%s decoded an invalid request: %v", fm.name(), err)
			}
			for _, b := range []Bound{BoundBytes, BoundTiktoken} {
				if n := inputBound(req, b, 100); n <= 0 {
					t.Fatalf("%s: input bound %d", fm.name(), n)
				}
			}
		}
	})
}

func TestInputBoundNeverBelowTheBytesOfText(t *testing.T) {
	text := strings.Repeat("naïve façade 数据 ", 50)
	req := &Request{System: "sys", Messages: []Message{{Role: RoleUser, Parts: []Part{{Kind: PartText, Text: text}}}}}
	if n := inputBound(req, BoundBytes, 1); n < int64(len(text)) {
		t.Fatalf("byte bound %d below the %d bytes of text", n, len(text))
	}
	tk := inputBound(req, BoundTiktoken, 1)
	codec, err := tiktoken()
	if err != nil {
		t.Fatal(err)
	}
	exact, _ := codec.Count(text)
	if tk < int64(exact) {
		t.Fatalf("tiktoken bound %d below the exact count %d", tk, exact)
	}
}

func TestSanitizeRemovesCredentials(t *testing.T) {
	key := secret.New("sk-proj-AbCdEf0123456789GhIjKl")
	cases := []struct{ name, msg string }{
		{"whole key", "Incorrect API key provided: sk-proj-AbCdEf0123456789GhIjKl."},
		{"masked key", "Incorrect API key provided: sk-proj-******************GhIjKl."},
		{"key fragment", "key ending 0123456789 is invalid"},
		{"other sk key", "also tried sk-other-zzzzzzzz"},
		{"bearer token", "header was Bearer abc.def.ghi"},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig rejected"},
		{"long opaque run", "x-api-key 7f3a9c1e5b2d4f6a8c0e7f3a9c1e invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sanitize(c.msg, key)
			for _, leak := range []string{"sk-", "AbCdEf", "0123456789", "GhIjKl", "abc.def", "eyJ", "7f3a9c1e5b2d"} {
				if strings.Contains(got, leak) {
					t.Fatalf("sanitize(%q) = %q, still contains %q", c.msg, got, leak)
				}
			}
		})
	}
	if got := sanitize(strings.Repeat("é", 400), key); len(got) > 310 {
		t.Fatalf("long message kept %d bytes", len(got))
	}
}

func TestTruncatedUpstreamStreamsAreCuts(t *testing.T) {
	for name, st := range map[string]Stream{
		"chat": &openaiStream{body: io.NopCloser(nil), sse: newSSEReader(strings.NewReader(
			"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"))},
		"messages": &anthropicStream{body: io.NopCloser(nil), blocks: map[int]int{}, sse: newSSEReader(strings.NewReader(
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"))},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			for range 10 {
				if _, err = st.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("stream without its terminator ended with %v, want unexpected EOF", err)
			}
		})
	}
}
