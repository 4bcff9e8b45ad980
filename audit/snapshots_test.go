package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/workspace"
)

// mustSnapshotStore is a real encrypted blob store on a temp directory.
func mustSnapshotStore(t testing.TB) *blob.Store {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := blob.NewKeyring(blob.KEK{ID: "k1", Keeper: localsecrets.NewKeeper(key)})
	if err != nil {
		t.Fatal(err)
	}
	be, err := blob.NewLocalBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := blob.New(be, blob.Options{Keys: ring, DataKeys: &blob.MemDataKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshotLog appends n editor ops to submission sub, with a
// workspace.snapshot every `every` events whose tarball it stores in s,
// as runs do. It returns the model tree after each sequence number.
func snapshotLog(t testing.TB, db *store.DB, s *blob.Store, sub string, n, every int) []*workspace.Tree {
	t.Helper()
	l := Open(db, Options{Signer: testSigner(t)})
	defer l.Close()
	rng := rand.New(rand.NewPCG(7, 9))
	model := workspace.NewTree(workspace.DefaultLimits())
	states := []*workspace.Tree{model.Clone()} // states[seq]
	var batch []Entry
	flush := func() {
		if _, err := l.Append(t.Context(), batch...); err != nil {
			t.Fatal(err)
		}
		batch = nil
	}
	for seq := 1; seq <= n; seq++ {
		var e Entry
		if seq%every == 0 {
			archive, d, err := workspace.Archive(model)
			if err != nil {
				t.Fatal(err)
			}
			bd, _ := blob.ParseDigest(d.String())
			if _, err := s.Put(t.Context(), sub, bd, bytes.NewReader(archive)); err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(Snapshot{Digest: d})
			e = Entry{SubmissionID: sub, Kind: KindWorkspaceSnapshot, Actor: ActorSystem, Payload: payload}
		} else {
			op := workspace.Op{Op: workspace.OpCreate, File: "main.py", Content: "# start\n"}
			if f, ok := model.Get("main.py"); ok {
				at := rng.IntN(len(f.Content) + 1)
				op = workspace.Op{File: "main.py", Changes: []workspace.Change{{From: at, To: at, Insert: fmt.Sprint(seq % 10)}}}
			}
			if err := model.Apply(op); err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(op)
			e = Entry{SubmissionID: sub, Kind: KindEditorOps, Actor: ActorCandidate,
				ClientID: fmt.Sprint(seq), Payload: payload}
		}
		batch = append(batch, e)
		states = append(states, model.Clone())
		if len(batch) == 1000 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return states
}

func TestReplayFromSnapshotsMatchesTheLog(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
	s := mustSnapshotStore(t)
	const n = 6000
	states := snapshotLog(t, db, s, "sub_snap", n, 1500)

	plain := NewReplayer(db, workspace.DefaultLimits())
	loads := &countingLoader{inner: BlobSnapshots{Blobs: s, Limits: workspace.DefaultLimits()}}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		seq := rng.Int64N(n) + 1
		a, err := plain.Replay(t.Context(), "sub_snap", seq)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh replayer each time: cold, so it starts from the
		// latest snapshot when one is worth loading.
		fast := NewReplayer(db, workspace.DefaultLimits())
		fast.UseSnapshots(loads)
		b, err := fast.Replay(t.Context(), "sub_snap", seq)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equal(states[seq]) || !b.Equal(states[seq]) {
			t.Fatalf("replay at %d: log-only equal %v, from snapshot equal %v", seq, a.Equal(states[seq]), b.Equal(states[seq]))
		}
	}
	if loads.n == 0 {
		t.Fatal("no replay started from a snapshot: the test proved nothing about them")
	}
}

func TestReplayFallsBackWhenASnapshotIsUnreadable(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
	s := mustSnapshotStore(t)
	states := snapshotLog(t, db, s, "sub_gone", 3000, 1500)
	// Another store: the snapshots are not there (a shredded or lost
	// blob). Replay must still give the right state, from the log.
	rp := NewReplayer(db, workspace.DefaultLimits())
	rp.UseSnapshots(BlobSnapshots{Blobs: mustSnapshotStore(t), Limits: workspace.DefaultLimits()})
	got, err := rp.Replay(t.Context(), "sub_gone", 2999)
	if err != nil || !got.Equal(states[2999]) {
		t.Fatalf("replay without readable snapshots: equal=%v err=%v", err == nil && got.Equal(states[2999]), err)
	}
}

// countingLoader counts successful snapshot loads.
type countingLoader struct {
	inner SnapshotLoader
	n     int
}

func (c *countingLoader) LoadSnapshot(ctx context.Context, sub string, d workspace.Digest) (*workspace.Tree, error) {
	t, err := c.inner.LoadSnapshot(ctx, sub, d)
	if err == nil {
		c.n++
	}
	return t, err
}

// BenchmarkReplayFromSnapshots is BenchmarkReplay's cold case on a
// 100k-event submission whose runs left a snapshot every 2,000 events:
// each op is a fresh process's first replay at a random point, starting
// from the latest stored snapshot (read from the encrypted local blob
// store and verified) and applying the events after it.
func BenchmarkReplayFromSnapshots(b *testing.B) {
	db := storetest.MustOpen(b, filepath.Join(b.TempDir(), "replay.db"))
	s := mustSnapshotStore(b)
	const n = 100_000
	snapshotLog(b, db, s, "sub_bench", n, 2000)
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		rp := NewReplayer(db, workspace.DefaultLimits())
		rp.UseSnapshots(BlobSnapshots{Blobs: s, Limits: workspace.DefaultLimits()})
		if _, err := rp.Replay(b.Context(), "sub_bench", rng.Int64N(n)+1); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSnapshotBuiltBeforeInterleavedEdits covers a run that rebuilt the
// workspace at seq N while the candidate kept typing: the snapshot event
// lands after later edits, and describes the state at N, not at its own
// position.
func TestSnapshotBuiltBeforeInterleavedEdits(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
	s := mustSnapshotStore(t)
	l := Open(db, Options{Signer: testSigner(t)})
	defer l.Close()
	model := workspace.NewTree(workspace.DefaultLimits())
	var (
		at8     workspace.Digest
		entries []Entry
	)
	for seq := 1; seq <= 2000; seq++ {
		op := workspace.Op{Op: workspace.OpCreate, File: "a.txt", Content: "x"}
		if seq > 1 {
			op = workspace.Op{File: "a.txt", Changes: []workspace.Change{{From: 0, To: 0, Insert: "y"}}}
		}
		if err := model.Apply(op); err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(op)
		entries = append(entries, Entry{SubmissionID: "sub_race", Kind: KindEditorOps,
			Actor: ActorCandidate, ClientID: fmt.Sprint(seq), Payload: payload})
		if seq == 1500 {
			archive, d, _ := workspace.Archive(model)
			bd, _ := blob.ParseDigest(d.String())
			if _, err := s.Put(t.Context(), "sub_race", bd, bytes.NewReader(archive)); err != nil {
				t.Fatal(err)
			}
			at8 = d
		}
	}
	if _, err := l.Append(t.Context(), entries...); err != nil {
		t.Fatal(err)
	}
	// The run built at 1500 appends its snapshot only now, at 2001.
	payload, _ := json.Marshal(Snapshot{Digest: at8, Seq: 1500})
	if _, err := l.Append(t.Context(), Entry{SubmissionID: "sub_race", Kind: KindWorkspaceSnapshot,
		Actor: ActorSystem, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	for _, snaps := range []bool{false, true} {
		rp := NewReplayer(db, workspace.DefaultLimits())
		if snaps {
			rp.UseSnapshots(BlobSnapshots{Blobs: s, Limits: workspace.DefaultLimits()})
		}
		got, err := rp.Replay(t.Context(), "sub_race", 2001)
		if err != nil || !got.Equal(model) {
			t.Fatalf("snapshots=%v: replay at 2001: equal=%v err=%v", snaps, err == nil && got.Equal(model), err)
		}
	}

	// A snapshot that lies about its state is refused, naming it.
	lie, _ := json.Marshal(Snapshot{Digest: at8, Seq: 1999})
	if _, err := l.Append(t.Context(), Entry{SubmissionID: "sub_race", Kind: KindWorkspaceSnapshot,
		Actor: ActorSystem, Payload: lie}); err != nil {
		t.Fatal(err)
	}
	_, err := NewReplayer(db, workspace.DefaultLimits()).Replay(t.Context(), "sub_race", 2002)
	if err == nil || !strings.Contains(err.Error(), "snapshot at seq 2002") {
		t.Fatalf("replay over a false snapshot: %v; want an error naming seq 2002", err)
	}
}

// TestIngestLeavesPeriodicSnapshots checks the ingest path writes a
// snapshot of its own each SnapshotEvery events, rebuilt from the log,
// so replay can start near any point without any run.
func TestIngestLeavesPeriodicSnapshots(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
	blobs := mustSnapshotStore(t)
	l := mustLog(t, db, Options{Signer: testSigner(t)})
	_, sub := mustOpenSubmission(t, db, "hash-snap")
	api := NewAPI(l)
	api.UseSnapshots(BlobSnapshots{Blobs: blobs, Limits: workspace.DefaultLimits()})
	s := server.New(slog.New(slog.DiscardHandler), fakeAuth{})
	s.Handle(api.Routes()...)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	e := &env{db: db, log: l, url: ts.URL, sub: sub}

	model := workspace.NewTree(workspace.DefaultLimits())
	seq := 0
	for batch := 0; seq < SnapshotEvery+300; batch++ {
		var req IngestRequest
		for range 400 {
			seq++
			op := workspace.Op{Op: workspace.OpCreate, File: "a.txt", Content: "a"}
			if seq > 1 {
				op = workspace.Op{File: "a.txt", Changes: []workspace.Change{{From: 0, To: 0, Insert: "b"}}}
			}
			if err := model.Apply(op); err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(op)
			req.Events = append(req.Events, ClientEvent{ID: fmt.Sprint(seq), Kind: KindEditorOps, Payload: payload})
		}
		if st, body := e.do(t, "POST", "/api/v1/session/events", "candidate:"+sub, req, nil); st != 200 {
			t.Fatalf("ingest: %d %s", st, body)
		}
	}
	// The snapshot is written in the background: wait for it, bounded.
	deadline := time.Now().Add(10 * time.Second)
	var snap Snapshot
	for {
		var payload string
		err := db.SQL.QueryRow(`SELECT payload FROM audit_events WHERE submission_id = ? AND kind = ?`,
			sub, string(KindWorkspaceSnapshot)).Scan(&payload)
		if err == nil {
			json.Unmarshal([]byte(payload), &snap)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic snapshot appeared within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if snap.Seq < SnapshotEvery {
		t.Fatalf("snapshot built at seq %d, want at or past %d", snap.Seq, SnapshotEvery)
	}
	rp := NewReplayer(db, workspace.DefaultLimits())
	want, err := rp.Replay(t.Context(), sub, snap.Seq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := BlobSnapshots{Blobs: blobs, Limits: workspace.DefaultLimits()}.LoadSnapshot(t.Context(), sub, snap.Digest)
	if err != nil || !got.Equal(want) {
		t.Fatalf("stored snapshot equal to the log's state at %d: %v (%v)", snap.Seq, err == nil && got.Equal(want), err)
	}
	final, err := NewReplayer(db, workspace.DefaultLimits()).Replay(t.Context(), sub, int64(seq)+1)
	if err != nil || !final.Equal(model) {
		t.Fatalf("replay past the snapshot: %v", err)
	}
}
