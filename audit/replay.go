package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

// Snapshot is the payload of a workspace.snapshot event: the digest of
// the workspace's deterministic archive at that point. Replay checks it
// against the state it rebuilt from the editor ops before it.
//
// Seq is the sequence number the workspace was built at: the snapshot is
// the state after that event. Events may land between the build and the
// snapshot event itself (a candidate types while a run starts), so the
// snapshot event's own position says nothing about its state. A snapshot
// without Seq was built at the event just before it.
type Snapshot struct {
	Digest workspace.Digest `json:"digest"`
	Seq    int64            `json:"seq,omitempty"`
}

// builtAt returns the sequence number whose state the snapshot holds.
func (s Snapshot) builtAt(eventSeq int64) int64 {
	if s.Seq > 0 && s.Seq < eventSeq {
		return s.Seq
	}
	return eventSeq - 1
}

// replayStride is how many events apart the replayer keeps rebuilt
// states of a submission. Events never change, so a state rebuilt once
// stays right; a replay then applies at most replayStride ops.
const replayStride = 256

// maxReplayCached bounds how many submissions' states are kept.
const maxReplayCached = 16

// Replayer rebuilds a submission's workspace at any sequence number from
// the log alone: it starts from an empty tree and applies every
// editor.ops event in order, checking every workspace.snapshot on the way.
// With a SnapshotLoader it may instead start from the stored tarball of a
// workspace.snapshot event: the digest it loads is the one the log
// recorded, and the loader verifies the tarball against it, so the start
// state is still bound to the log. It is safe for concurrent use.
type Replayer struct {
	db    *store.DB
	lim   workspace.Limits
	snaps SnapshotLoader

	mu     sync.Mutex
	states map[string]*replayStates
}

// SnapshotLoader returns the workspace stored for a workspace.snapshot
// event: the tarball of submission sub whose digest is d, verified against
// d. An error makes the replayer rebuild from the log instead.
type SnapshotLoader interface {
	LoadSnapshot(ctx context.Context, sub string, d workspace.Digest) (*workspace.Tree, error)
}

// snapshotWorth is how many events a replay must otherwise apply before
// loading a stored snapshot is worth a read from blob storage.
const snapshotWorth = 1024

// replayStates holds rebuilt trees of one submission by sequence number
// (multiples of replayStride) and the highest one rebuilt.
type replayStates struct {
	mu    sync.Mutex
	trees map[int64]*workspace.Tree
	upTo  int64
}

// NewReplayer returns a Replayer on db whose trees use lim.
func NewReplayer(db *store.DB, lim workspace.Limits) *Replayer {
	return &Replayer{db: db, lim: lim, states: map[string]*replayStates{}}
}

// UseSnapshots lets the replayer start from stored snapshots.
func (rp *Replayer) UseSnapshots(l SnapshotLoader) { rp.snaps = l }

// Replay returns the workspace of submission sub after the event with
// sequence number seq. The caller must not change the returned tree.
func (rp *Replayer) Replay(ctx context.Context, sub string, seq int64) (*workspace.Tree, error) {
	st := rp.statesOf(sub)
	st.mu.Lock()
	defer st.mu.Unlock()
	base := min(seq/replayStride*replayStride, st.upTo)
	t := workspace.NewTree(rp.lim)
	if base > 0 {
		t = st.trees[base].Clone()
	}
	// Strides are cached only on a contiguous rebuild from the start, so
	// every cached stride up to upTo exists.
	contiguous := true
	if rp.snaps != nil && seq-base > snapshotWorth {
		if snap, at, ok := rp.fromSnapshot(ctx, sub, base, seq); ok {
			t, base, contiguous = snap, at, false
		}
	}
	checks, err := rp.snapshotChecks(ctx, sub, base, seq)
	if err != nil {
		return nil, err
	}
	if err := checks.at(t, base); err != nil {
		return nil, err
	}
	for from := base; from < seq; {
		evs, err := ReadEvents(ctx, rp.db, sub, from, int(min(seq-from, 4096)))
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq > seq {
				return t, nil
			}
			if err := applyEvent(t, e); err != nil {
				return nil, err
			}
			if err := checks.at(t, e.Seq); err != nil {
				return nil, err
			}
			if contiguous && e.Seq%replayStride == 0 && e.Seq > st.upTo {
				st.trees[e.Seq], st.upTo = t.Clone(), e.Seq
			}
			from = e.Seq
		}
	}
	return t, nil
}

// snapshotCheck is a workspace.snapshot event to check against the state
// after the event it was built at.
type snapshotCheck struct {
	event  int64
	digest workspace.Digest
}

// snapshotChecks are the checks of one replay, by the sequence number
// whose state they describe.
type snapshotChecks map[int64][]snapshotCheck

// snapshotChecks reads the snapshot events of sub in (from, upTo] that
// describe a state this replay passes through (built at from or later).
func (rp *Replayer) snapshotChecks(ctx context.Context, sub string, from, upTo int64) (snapshotChecks, error) {
	rows, err := rp.db.SQL.QueryContext(ctx, rp.db.Rebind(`SELECT seq, payload FROM audit_events
		WHERE submission_id = ? AND kind = ? AND seq > ? AND seq <= ? ORDER BY seq`),
		sub, string(KindWorkspaceSnapshot), from, upTo)
	if err != nil {
		return nil, fmt.Errorf("read snapshots of %q: %w", sub, err)
	}
	defer rows.Close()
	checks := snapshotChecks{}
	for rows.Next() {
		var (
			eventSeq int64
			payload  string
		)
		if err := rows.Scan(&eventSeq, &payload); err != nil {
			return nil, fmt.Errorf("read snapshots of %q: %w", sub, err)
		}
		var s Snapshot
		if err := json.Unmarshal([]byte(payload), &s); err != nil {
			return nil, fmt.Errorf("replay seq %d: snapshot: %w", eventSeq, err)
		}
		if at := s.builtAt(eventSeq); at >= from {
			checks[at] = append(checks[at], snapshotCheck{event: eventSeq, digest: s.Digest})
		}
	}
	return checks, rows.Err()
}

// at checks every snapshot that describes the state t after event seq.
func (c snapshotChecks) at(t *workspace.Tree, seq int64) error {
	list := c[seq]
	if len(list) == 0 {
		return nil
	}
	_, got, err := workspace.Archive(t)
	if err != nil {
		return fmt.Errorf("replay seq %d: archive: %w", seq, err)
	}
	for _, ch := range list {
		if got != ch.digest {
			return fmt.Errorf("replay: the snapshot at seq %d says the workspace after seq %d is %s; the log gives %s",
				ch.event, seq, ch.digest, got)
		}
	}
	return nil
}

// fromSnapshot loads the latest stored snapshot event in (after, seq] and
// returns its tree with the sequence number it was built at.
func (rp *Replayer) fromSnapshot(ctx context.Context, sub string, after, seq int64) (*workspace.Tree, int64, bool) {
	var (
		at      int64
		payload string
	)
	err := rp.db.SQL.QueryRowContext(ctx, rp.db.Rebind(`SELECT seq, payload FROM audit_events
		WHERE submission_id = ? AND kind = ? AND seq > ? AND seq <= ?
		ORDER BY seq DESC LIMIT 1`), sub, string(KindWorkspaceSnapshot), after, seq).Scan(&at, &payload)
	if err != nil {
		return nil, 0, false
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(payload), &s); err != nil {
		return nil, 0, false
	}
	built := s.builtAt(at)
	if built <= after {
		return nil, 0, false
	}
	t, err := rp.snaps.LoadSnapshot(ctx, sub, s.Digest)
	if err != nil {
		return nil, 0, false
	}
	return t, built, true
}

func (rp *Replayer) statesOf(sub string) *replayStates {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	st, ok := rp.states[sub]
	if !ok {
		if len(rp.states) >= maxReplayCached {
			for k := range rp.states { // drop an arbitrary one
				delete(rp.states, k)
				break
			}
		}
		st = &replayStates{trees: map[int64]*workspace.Tree{}}
		rp.states[sub] = st
	}
	return st
}

// applyEvent applies the editor op of one event; other kinds leave the
// workspace as it is.
func applyEvent(t *workspace.Tree, e Event) error {
	if e.Kind != KindEditorOps {
		return nil
	}
	op, err := workspace.DecodeOp(e.Payload)
	if err == nil {
		err = t.Apply(op)
	}
	if err != nil {
		return fmt.Errorf("replay event %d (seq %d): %w", e.Index, e.Seq, err)
	}
	return nil
}

// ReplayFile is one file of a replayed workspace.
type ReplayFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Exec    bool   `json:"exec,omitempty"`
}

// ReplayResponse is the body of GET /api/v1/submissions/{id}/replay.
type ReplayResponse struct {
	Seq   int64        `json:"seq"`
	Files []ReplayFile `json:"files"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) error {
	p, _ := server.PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if _, err := a.log.db.Submission(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	s := r.URL.Query().Get("seq")
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return errs.E(errs.Invalid, "invalid query parameter seq=%q: want a sequence number", s)
	}
	t, err := a.replayer.Replay(r.Context(), id, seq)
	if err != nil {
		return err
	}
	resp := ReplayResponse{Seq: seq, Files: []ReplayFile{}}
	for _, path := range t.Paths() {
		f, _ := t.Get(path)
		resp.Files = append(resp.Files, ReplayFile{Path: path, Content: f.Content, Exec: f.Exec})
	}
	return server.WriteJSON(w, http.StatusOK, resp)
}
