// Package secret holds values that must never reach a log line, an error
// message or a response body: passwords, tokens, provider keys and key
// material. Redaction is a property of the type: formatting a Secret with
// fmt, slog or encoding/json yields "REDACTED", so a careless log call
// cannot leak it. Only Reveal returns the value.
package secret

import "log/slog"

// Redacted is what every rendering of a Secret prints.
const Redacted = "REDACTED"

// String is a secret text value. The zero value is empty.
type String struct{ v string }

// New wraps v.
func New(v string) String { return String{v: v} }

// Reveal returns the secret value. Call it only where the value is used,
// never to log or report it.
func (s String) Reveal() string { return s.v }

// Empty reports whether the secret is unset.
func (s String) Empty() bool { return s.v == "" }

// String implements fmt.Stringer with the redacted form.
func (s String) String() string { return Redacted }

// GoString implements fmt.GoStringer with the redacted form (%#v).
func (s String) GoString() string { return Redacted }

// LogValue implements slog.LogValuer with the redacted form.
func (s String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON renders the redacted form, so a Secret inside a struct that
// is encoded to JSON never leaks.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText renders the redacted form for text encoders such as YAML.
func (s String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Bytes is secret binary key material. The zero value is empty.
type Bytes struct{ v []byte }

// NewBytes wraps b without copying it.
func NewBytes(b []byte) Bytes { return Bytes{v: b} }

// Reveal returns the key material. The caller must not retain or log it.
func (b Bytes) Reveal() []byte { return b.v }

// Len returns the length of the key material.
func (b Bytes) Len() int { return len(b.v) }

func (b Bytes) String() string               { return Redacted }
func (b Bytes) GoString() string             { return Redacted }
func (b Bytes) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (b Bytes) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
