// Package errs defines the small closed set of error kinds that DevMesh
// reports to clients. Each kind maps to one HTTP status in exactly one
// place (the server's error adapter); everything else is internal (500).
//
// An *Error carries two things: a message that is safe to show the client,
// and an optional internal cause that only ever reaches the log.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the client. The zero value is Internal.
type Kind int

// Error kinds. Their HTTP statuses are fixed by the server's error adapter.
const (
	Internal        Kind = iota // 500: the client sees only the status text
	Invalid                     // 400: the request was malformed
	Unauthenticated             // 401: no or bad credentials
	Forbidden                   // 403: authenticated, not allowed
	NotFound                    // 404: absent, or not visible to the caller
	Conflict                    // 409: the state does not allow it
	Exhausted                   // 429: a budget or rate limit is spent
	Unavailable                 // 503: a dependency is down; retry later
	TooLarge                    // 413: the body is over its limit
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid_request",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	NotFound:        "not_found",
	Conflict:        "conflict",
	Exhausted:       "exhausted",
	Unavailable:     "unavailable",
	TooLarge:        "too_large",
}

// String returns the stable error code sent to clients. The codes are part
// of the public API: never rename or reuse one.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "internal"
	}
	return kindNames[k]
}

// Error is an error with a kind, a client-safe message and an internal
// cause. Msg must never contain secrets or internal details; Cause may.
type Error struct {
	Kind  Kind
	Msg   string
	Cause error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Msg
	}
	if e.Msg == "" {
		return e.Cause.Error()
	}
	return e.Msg + ": " + e.Cause.Error()
}

func (e *Error) Unwrap() error { return e.Cause }

// E returns an error of kind with a client-safe message built from format.
func E(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind whose client message is msg and whose
// internal cause is cause.
func Wrap(kind Kind, cause error, msg string) error {
	return &Error{Kind: kind, Msg: msg, Cause: cause}
}

// KindOf reports the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err's kind is kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }

// Message returns the client-safe message of err: the Msg of the first
// *Error in its chain, or "" when there is none.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return ""
}
