package audit

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/workspace"
	"golang.org/x/mod/sumdb/tlog"
)

// API serves the log's HTTP routes: checkpoints, proofs and the public
// key for anyone holding a receipt, event ingest for candidates, and
// events with receipts and replay for recruiters.
type API struct {
	log      *Log
	replayer *Replayer
	edits    editLocks
	// snapshotting is held while a periodic snapshot is being written.
	snapshotting sync.Mutex
}

// NewAPI returns the routes of l. l must have a Signer.
func NewAPI(l *Log) *API {
	return &API{log: l, replayer: NewReplayer(l.db, workspace.DefaultLimits())}
}

// UseSnapshots lets replays start from stored workspace snapshots.
func (a *API) UseSnapshots(l SnapshotLoader) { a.replayer.UseSnapshots(l) }

// Routes returns the route table; the server checks audience and role
// before each handler runs.
func (a *API) Routes() []server.Route {
	return []server.Route{
		{Pattern: "GET /api/v1/log/checkpoint", Audience: server.Public, Handler: a.checkpoint},
		{Pattern: "GET /api/v1/log/proofs/inclusion", Audience: server.Public, Handler: a.inclusion},
		{Pattern: "GET /api/v1/log/proofs/consistency", Audience: server.Public, Handler: a.consistency},
		{Pattern: "GET /api/v1/log/key", Audience: server.Public, Handler: a.key},
		{Pattern: "POST /api/v1/session/events", Audience: server.Candidate,
			MaxBody: MaxBatchBytes, Handler: a.ingest},
		{Pattern: "GET /api/v1/submissions/{id}/events", Audience: server.Recruiter, Handler: a.events},
		{Pattern: "GET /api/v1/submissions/{id}/replay", Audience: server.Recruiter, Handler: a.replay},
	}
}

func writeText(w http.ResponseWriter, s string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte(s))
	return err
}

// checkpoint returns the latest signed checkpoint as a note, signing one
// first if the log has grown past it.
func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := a.log.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	return writeText(w, string(c.Note))
}

func (a *API) key(w http.ResponseWriter, r *http.Request) error {
	return writeText(w, a.log.opts.Signer.VerifierKey()+"\n")
}

// ProofResponse is the body of the proof routes. Hashes are standard
// base64 of 32 bytes, in the order RFC 6962 defines.
type ProofResponse struct {
	Index *int64   `json:"index,omitempty"`
	Size  *int64   `json:"size,omitempty"`
	Old   *int64   `json:"old,omitempty"`
	New   *int64   `json:"new,omitempty"`
	Proof []string `json:"proof"`
}

func (a *API) inclusion(w http.ResponseWriter, r *http.Request) error {
	index, err := queryInt(r, "index")
	if err != nil {
		return err
	}
	size, err := queryInt(r, "size")
	if err != nil {
		return err
	}
	p, err := a.log.InclusionProof(r.Context(), index, size)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, ProofResponse{Index: &index, Size: &size, Proof: encodeHashes(p)})
}

func (a *API) consistency(w http.ResponseWriter, r *http.Request) error {
	old, err := queryInt(r, "old")
	if err != nil {
		return err
	}
	nw, err := queryInt(r, "new")
	if err != nil {
		return err
	}
	p, err := a.log.ConsistencyProof(r.Context(), old, nw)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, ProofResponse{Old: &old, New: &nw, Proof: encodeHashes(p)})
}

func queryInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errs.E(errs.Invalid, "invalid query parameter %s=%q: want a non-negative integer", name, s)
	}
	return n, nil
}

func encodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}
