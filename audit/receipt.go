package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"golang.org/x/mod/sumdb/tlog"
)

// Receipt lets anyone holding the log's verifier key check, offline, that
// an event is in the log: the event in its canonical encoding, its leaf
// index, the RFC 6962 inclusion proof and the signed checkpoint it leads
// to.
type Receipt struct {
	Event      Event    `json:"event"`
	Index      int64    `json:"index"`
	Proof      []string `json:"inclusion_proof"` // standard base64 hashes
	Checkpoint string   `json:"checkpoint"`      // the signed note
}

// Receipt returns a receipt for e against the checkpoint c, which must
// cover e.
func (l *Log) Receipt(ctx context.Context, e Event, c Checkpoint) (Receipt, error) {
	p, err := l.InclusionProof(ctx, e.Index, c.Size)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Event: e, Index: e.Index, Proof: encodeHashes(p), Checkpoint: string(c.Note)}, nil
}

// VerifyReceipt checks one receipt against the verifier key: the
// checkpoint's signature and origin, that the event's leaf index is the
// receipt's, and that the inclusion proof leads from the event's leaf
// hash to the checkpoint's root.
func VerifyReceipt(r Receipt, verifierKey string) error {
	c, err := OpenCheckpoint([]byte(r.Checkpoint), verifierKey)
	if err != nil {
		return err
	}
	if r.Event.Index != r.Index {
		return fmt.Errorf("event says index %d, receipt says %d", r.Event.Index, r.Index)
	}
	proof := make(tlog.RecordProof, len(r.Proof))
	for i, s := range r.Proof {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return fmt.Errorf("inclusion proof hash %d %q is not a base64 SHA-256", i, s)
		}
		copy(proof[i][:], b)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Root, r.Index, r.Event.LeafHash()); err != nil {
		return fmt.Errorf("event %d is not in the tree of checkpoint %d: %w", r.Index, c.Size, err)
	}
	return nil
}

// VerifyReceipts checks every receipt in data, which is one receipt, a
// JSON array of receipts, or an object whose "receipts" member is such an
// array (a report). It returns how many receipts it checked; the error
// names the first receipt that fails. It needs no server and no
// database.
func VerifyReceipts(data []byte, verifierKey string) (int, error) {
	list, err := parseReceipts(data)
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, errors.New("no receipts found")
	}
	for i, raw := range list {
		var r Receipt
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return i, fmt.Errorf("receipt %d: %w", i, err)
		}
		if err := VerifyReceipt(r, verifierKey); err != nil {
			return i, fmt.Errorf("receipt %d (event %d): %w", i, r.Index, err)
		}
	}
	return len(list), nil
}

func parseReceipts(data []byte) ([]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var list []json.RawMessage
		err := json.Unmarshal(data, &list)
		return list, err
	}
	var doc struct {
		Receipts []json.RawMessage `json:"receipts"`
		Event    json.RawMessage   `json:"event"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse receipts: %w", err)
	}
	if doc.Event != nil {
		return []json.RawMessage{data}, nil
	}
	return doc.Receipts, nil
}

// EventsPage is the body of GET /api/v1/submissions/{id}/events.
type EventsPage struct {
	Receipts []Receipt `json:"receipts"`
	// NextAfter is the after= value for the next page; absent on the
	// last page.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// MaxPage bounds the events one page returns.
const MaxPage = 500

// events pages through a submission's events, each with its receipt.
// ?after=SEQ (default 0) and ?limit=N (default and maximum MaxPage).
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	p, _ := server.PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if _, err := a.log.db.Submission(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	evs, err := ReadEvents(r.Context(), a.log.db, id, after, limit+1)
	if err != nil {
		return err
	}
	page := EventsPage{Receipts: []Receipt{}}
	if len(evs) > limit {
		evs = evs[:limit]
		next := evs[limit-1].Seq
		page.NextAfter = &next
	}
	if len(evs) > 0 {
		if page.Receipts, err = a.receipts(r.Context(), evs); err != nil {
			return err
		}
	}
	return server.WriteJSON(w, http.StatusOK, page)
}

func (a *API) receipts(ctx context.Context, evs []Event) ([]Receipt, error) {
	c, err := a.log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Receipt, len(evs))
	for i, e := range evs {
		if out[i], err = a.log.Receipt(ctx, e, c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func pageParams(r *http.Request) (after int64, limit int, err error) {
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return 0, 0, errs.E(errs.Invalid, "invalid query parameter after=%q: want a sequence number", s)
		}
	}
	limit = MaxPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			return 0, 0, errs.E(errs.Invalid, "invalid query parameter limit=%q: want 1 to %d", s, MaxPage)
		}
		limit = n
	}
	return after, limit, nil
}
