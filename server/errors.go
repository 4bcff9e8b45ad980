package server

import (
	"log/slog"
	"net/http"

	"github.com/devmesh/devmesh/internal/errs"
)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[errs.Kind]int{
	errs.Internal:        http.StatusInternalServerError,
	errs.Invalid:         http.StatusBadRequest,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.Exhausted:       http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
}

// Status returns the HTTP status for err's kind.
func Status(err error) int { return statusOf[errs.KindOf(err)] }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// WriteError is the error adapter: it writes err as the API error body
// {"error":{"code","message","request_id"}}. On a 5xx the client sees only
// the status text and the request id; the cause goes to the log under
// that id. On a 4xx the client sees the error's client-safe message.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	kind := errs.KindOf(err)
	status := statusOf[kind]
	id := RequestID(r.Context())
	msg := errs.Message(err)
	if status >= 500 || msg == "" {
		msg = http.StatusText(status)
	}
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "request_id", id, "err", err)
	} else {
		log.DebugContext(r.Context(), "request refused", "request_id", id,
			"status", status, "err", err)
	}
	if kind == errs.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devmesh"`)
	}
	WriteJSON(w, status, errorBody{Error: errorDetail{Code: kind.String(), Message: msg, RequestID: id}})
}
