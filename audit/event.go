package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Event is one stored entry of the log: an Entry with the index, sequence
// number and server time the log assigned to it. Its canonical encoding
// (Encode) is the leaf the Merkle tree commits to.
type Event struct {
	Index        int64 // global leaf index, from 0
	SubmissionID string
	Seq          int64 // per-submission sequence number, from 1
	Kind         Kind
	Actor        Actor
	ServerTime   time.Time  // UTC, microsecond precision
	ClientTime   *time.Time // UTC, microsecond precision; nil if the client gave none
	ClientID     string     // empty for events without a client event id
	Payload      json.RawMessage
}

// timeLayout is the byte-exact form of the times in an encoded event:
// RFC 3339 in UTC with exactly six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Micro truncates t to the microsecond and converts it to UTC, the form
// in which every event time is stored and hashed.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Encode returns the canonical encoding of e: the canonical JSON (see
// Canonical) of one object with the members actor, client_id,
// client_time, index, kind, payload, seq, server_time, submission_id
// (sorted by name, as Canonical sorts), times in timeLayout with
// client_time null when absent, and the payload bytes as stored. The log
// stores payloads in canonical form, so the encoding of a stored event
// is canonical, and any JSON re-encoding of it canonicalises back to the
// same bytes.
func (e *Event) Encode() []byte {
	b := make([]byte, 0, 160+len(e.Payload)+len(e.SubmissionID)+len(e.ClientID))
	b = append(b, `{"actor":`...)
	b = appendString(b, string(e.Actor))
	b = append(b, `,"client_id":`...)
	b = appendString(b, e.ClientID)
	b = append(b, `,"client_time":`...)
	if e.ClientTime == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = e.ClientTime.UTC().AppendFormat(b, timeLayout)
		b = append(b, '"')
	}
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, e.Index, 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"payload":`...)
	b = append(b, e.Payload...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"server_time":"`...)
	b = e.ServerTime.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","submission_id":`...)
	b = appendString(b, e.SubmissionID)
	return append(b, '}')
}

// LeafHash returns the RFC 6962 leaf hash of e's canonical encoding:
// SHA-256(0x00 || Encode()).
func (e *Event) LeafHash() tlog.Hash { return tlog.RecordHash(e.Encode()) }

// MarshalJSON returns the canonical encoding, so an event inside a
// receipt is exactly the bytes its leaf hash covers.
func (e Event) MarshalJSON() ([]byte, error) { return e.Encode(), nil }

// UnmarshalJSON parses any JSON form of an event (see DecodeEvent).
func (e *Event) UnmarshalJSON(data []byte) error {
	ev, err := DecodeEvent(data)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

type wireEvent struct {
	Index        *int64          `json:"index"`
	SubmissionID string          `json:"submission_id"`
	Seq          int64           `json:"seq"`
	Kind         Kind            `json:"kind"`
	Actor        Actor           `json:"actor"`
	ServerTime   string          `json:"server_time"`
	ClientTime   *string         `json:"client_time"`
	ClientID     string          `json:"client_id"`
	Payload      json.RawMessage `json:"payload"`
}

// DecodeEvent parses an event in any JSON form that canonicalises to its
// canonical encoding (so whitespace or escapes added in transport do not
// matter), and checks that encoding the parsed event gives exactly those
// canonical bytes: an event with extra members, numbers written another
// way or times in another form is an error, because its leaf hash would
// not be the log's.
func DecodeEvent(data []byte) (Event, error) {
	data, err := Canonical(data)
	if err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if w.Index == nil || w.Payload == nil {
		return Event{}, fmt.Errorf("decode event: index or payload missing")
	}
	e := Event{Index: *w.Index, SubmissionID: w.SubmissionID, Seq: w.Seq,
		Kind: w.Kind, Actor: w.Actor, ClientID: w.ClientID, Payload: w.Payload}
	if e.ServerTime, err = time.Parse(timeLayout, w.ServerTime); err != nil {
		return Event{}, fmt.Errorf("decode event: server_time %q: %w", w.ServerTime, err)
	}
	if w.ClientTime != nil {
		ct, err := time.Parse(timeLayout, *w.ClientTime)
		if err != nil {
			return Event{}, fmt.Errorf("decode event: client_time %q: %w", *w.ClientTime, err)
		}
		e.ClientTime = &ct
	}
	if !bytes.Equal(e.Encode(), data) {
		return Event{}, fmt.Errorf("decode event %d: not in canonical form", e.Index)
	}
	return e, nil
}
