package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/ledger"
)

// aiRequest is the payload of an ai.request event: what left for the
// provider, before it left.
type aiRequest struct {
	ReservationID string   `json:"reservation_id"`
	Endpoint      string   `json:"endpoint"`
	Model         string   `json:"model"`
	Provider      string   `json:"provider"`
	Upstream      string   `json:"upstream_model"`
	Request       *Request `json:"request"`
}

// aiResponse is the payload of an ai.response event.
type aiResponse struct {
	ReservationID string       `json:"reservation_id"`
	Outcome       string       `json:"outcome"`
	Error         string       `json:"error,omitempty"`
	Parts         []Part       `json:"parts"`
	Stop          StopReason   `json:"stop,omitempty"`
	Usage         ledger.Usage `json:"usage"`
	UsageKnown    bool         `json:"usage_known"`
	LatencyMS     float64      `json:"latency_ms"`
	FirstEventMS  float64      `json:"first_event_ms,omitempty"`
}

// ledgerReserved is the payload of a ledger.reserved event.
type ledgerReserved struct {
	ReservationID string `json:"reservation_id"`
	Amount        int64  `json:"amount"`
	InputBound    int64  `json:"input_bound"`
	OutputCeiling int64  `json:"output_ceiling"`
	Remaining     int64  `json:"remaining"`
}

// Outcomes of a relayed request, in ai.response events. Stored: never
// rename or reuse one.
const (
	outcomeCompleted    = "completed"     // the provider finished and reported usage
	outcomeNoUsage      = "usage_missing" // finished without usage: forfeited
	outcomeClientGone   = "client_gone"   // the client left mid-answer
	outcomeUpstreamCut  = "upstream_cut"  // the provider's stream broke
	outcomeUpstreamFail = "upstream_error"
)

func entry(sub string, kind audit.Kind, v any) (audit.Entry, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	return audit.Entry{SubmissionID: sub, Kind: kind, Actor: audit.ActorCandidate, Payload: b}, nil
}

// appendEvents appends one event per payload, in order, in one batch.
func (rl *Relay) appendEvents(ctx context.Context, sub string, events ...any) error {
	entries := make([]audit.Entry, 0, len(events))
	for _, ev := range events {
		var kind audit.Kind
		switch ev.(type) {
		case aiRequest:
			kind = audit.KindAIRequest
		case aiResponse:
			kind = audit.KindAIResponse
		case ledgerReserved:
			kind = audit.KindLedgerReserved
		case ledger.Settlement:
			kind = audit.KindLedgerSettled
		default:
			return fmt.Errorf("append event: unknown payload %T", ev)
		}
		e, err := entry(sub, kind, ev)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	if _, err := rl.audit.Append(ctx, entries...); err != nil {
		return fmt.Errorf("append relay events: %w", err)
	}
	return nil
}

// ForfeitStale charges the whole reservation of every request opened
// before cutoff that never settled, because the process relaying it died
// mid-call, and records each charge as a ledger.settled event by the
// system, so the audit log keeps matching the ledger. It returns how many
// it forfeited. Run it periodically on one process (any replica is safe:
// a reservation closes exactly once).
func (rl *Relay) ForfeitStale(ctx context.Context, cutoff time.Time) (int, error) {
	settled, err := rl.ledger.ForfeitStale(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range settled {
		if s.Repeat {
			continue
		}
		e, err := entry(s.SubmissionID, audit.KindLedgerSettled, s)
		if err != nil {
			return n, err
		}
		e.Actor = audit.ActorSystem
		if _, err := rl.audit.Append(ctx, e); err != nil {
			return n, fmt.Errorf("record forfeited reservation %s: %w", s.ReservationID, err)
		}
		n++
	}
	return n, nil
}
