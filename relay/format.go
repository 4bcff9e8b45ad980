package relay

import "net/http"

// format is one client wire format: OpenAI chat completions, OpenAI
// Responses or Anthropic Messages.
type format interface {
	// name is the endpoint's name in audit events.
	name() string
	// decode parses a request body. countOnly relaxes what a token count
	// request may omit (max_tokens).
	decode(body []byte, h http.Header, countOnly bool) (*Request, error)
	// respond writes a whole response.
	respond(w http.ResponseWriter, req *Request, resp *Response) error
	// encoder returns the stream encoder for one response.
	encoder(w *sseWriter, req *Request, resp *Response) streamEncoder
}

// streamEncoder writes one streamed response in a client format. resp
// is the response being assembled; the relay applies each event to it
// before passing the event on.
type streamEncoder interface {
	begin() error
	event(e Event) error
	// end finishes a stream whose upstream ended normally.
	end() error
	// fail ends a stream that broke after it began.
	fail(msg string) error
}
