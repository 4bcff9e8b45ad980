package audit

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Bounds on an entry, so one event cannot bloat the log or a receipt.
const (
	MaxIDBytes      = 128     // submission id and client event id
	MaxNameBytes    = 64      // kind and actor
	MaxPayloadBytes = 9 << 20 // room for the largest editor op
)

// checkEntry validates e and returns it with its payload in canonical
// form and its client time truncated to the microsecond.
func checkEntry(e Entry) (Entry, error) {
	if err := checkText("submission id", e.SubmissionID, MaxIDBytes, true); err != nil {
		return e, err
	}
	if err := checkText("kind", string(e.Kind), MaxNameBytes, true); err != nil {
		return e, err
	}
	if err := checkText("actor", string(e.Actor), MaxNameBytes, true); err != nil {
		return e, err
	}
	if err := checkText("client event id", e.ClientID, MaxIDBytes, false); err != nil {
		return e, err
	}
	if len(e.Payload) > MaxPayloadBytes {
		return e, fmt.Errorf("payload is %d bytes, over the limit of %d", len(e.Payload), MaxPayloadBytes)
	}
	if len(e.Payload) == 0 {
		e.Payload = json.RawMessage(`{}`)
	}
	p, err := Canonical(e.Payload)
	if err != nil {
		return e, fmt.Errorf("payload: %w", err)
	}
	e.Payload = p
	if e.ClientTime != nil {
		ct := Micro(*e.ClientTime)
		e.ClientTime = &ct
	}
	return e, nil
}

func checkText(what, s string, max int, required bool) error {
	switch {
	case required && s == "":
		return fmt.Errorf("%s is missing", what)
	case len(s) > max:
		return fmt.Errorf("%s is %d bytes, over the limit of %d", what, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q holds a control character", what, s)
		}
	}
	return nil
}
