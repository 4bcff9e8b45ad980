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
type Snapshot struct {
	Digest workspace.Digest `json:"digest"`
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
// It is safe for concurrent use.
type Replayer struct {
	db  *store.DB
	lim workspace.Limits

	mu     sync.Mutex
	states map[string]*replayStates
}

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
			if e.Seq%replayStride == 0 && e.Seq > st.upTo {
				st.trees[e.Seq], st.upTo = t.Clone(), e.Seq
			}
			from = e.Seq
		}
	}
	return t, nil
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

// applyEvent applies an editor op, or checks a snapshot, of one event.
func applyEvent(t *workspace.Tree, e Event) error {
	switch e.Kind {
	case KindEditorOps:
		op, err := workspace.DecodeOp(e.Payload)
		if err == nil {
			err = t.Apply(op)
		}
		if err != nil {
			return fmt.Errorf("replay event %d (seq %d): %w", e.Index, e.Seq, err)
		}
	case KindWorkspaceSnapshot:
		var s Snapshot
		if err := json.Unmarshal(e.Payload, &s); err != nil {
			return fmt.Errorf("replay event %d (seq %d): snapshot: %w", e.Index, e.Seq, err)
		}
		_, got, err := workspace.Archive(t)
		if err != nil {
			return fmt.Errorf("replay event %d: archive: %w", e.Index, err)
		}
		if got != s.Digest {
			return fmt.Errorf("replay event %d (seq %d): snapshot says %s, the ops before it give %s",
				e.Index, e.Seq, s.Digest, got)
		}
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
