package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// DecodeJSON reads the request body as one JSON value into v. It demands
// a JSON content type, rejects unknown fields and trailing data, and
// reports a body over the route's limit as too large. Errors name what was
// wrong and are safe to show the client.
func DecodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errs.E(errs.Invalid, "unsupported content type %q: want application/json", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errs.E(errs.Invalid, "invalid JSON body: trailing data after the first value")
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err)
		}
		return errs.E(errs.Invalid, "invalid JSON body: trailing data after the first value")
	}
	return nil
}

func jsonError(err error) error {
	var (
		tooBig    *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return errs.E(errs.TooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "invalid JSON body: empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "invalid JSON body: unexpected end")
	case errors.As(err, &syntax):
		return errs.E(errs.Invalid, "invalid JSON body at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typeError):
		return errs.E(errs.Invalid, "invalid JSON body: field %q must be %s, not %s",
			typeError.Field, typeError.Type, typeError.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return errs.E(errs.Invalid, "invalid JSON body: unknown field %s", field)
	}
	return errs.Wrap(errs.Invalid, err, "invalid JSON body")
}

// WriteJSON writes v as the JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
