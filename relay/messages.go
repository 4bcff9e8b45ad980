package relay

import (
	"net/http"

	"github.com/devmesh/devmesh/internal/errs"
)

type messagesFormat struct{}

func (messagesFormat) name() string { return "messages" }
func (messagesFormat) decode(body []byte, h http.Header, countOnly bool) (*Request, error) {
	return nil, errs.E(errs.Invalid, "not yet")
}
func (messagesFormat) respond(w http.ResponseWriter, req *Request, r *Response) error   { return nil }
func (messagesFormat) encoder(w *sseWriter, req *Request, resp *Response) streamEncoder { return nil }

type responsesFormat struct{ messagesFormat }

func (responsesFormat) name() string { return "responses" }
