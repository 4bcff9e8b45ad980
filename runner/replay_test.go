package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"unicode/utf16"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/workspace"
)

// randomOp returns an editor op that applies to model, drawn from every
// op kind, with some non-ASCII text so UTF-16 positions matter.
func randomOp(r *rand.Rand, model *workspace.Tree) workspace.Op {
	paths := model.Paths()
	words := []string{"x", "héllo", "日本", "😀", "\n", "def f():\n    return 1\n", ""}
	pick := func() string { return paths[r.IntN(len(paths))] }
	switch k := r.IntN(10); {
	case k < 5 && len(paths) > 0:
		p := pick()
		f, _ := model.Get(p)
		n := len(utf16.Encode([]rune(f.Content)))
		from := r.IntN(n + 1)
		to := from + r.IntN(n-from+1)
		return workspace.Op{File: p, Changes: []workspace.Change{{From: from, To: to,
			Insert: words[r.IntN(len(words))]}}}
	case k < 7:
		return workspace.Op{Op: workspace.OpCreate, File: fmt.Sprintf("pkg%d/f%d.py", r.IntN(3), r.IntN(50)),
			Content: words[r.IntN(len(words))]}
	case k < 8 && len(paths) > 0:
		return workspace.Op{Op: workspace.OpDelete, File: pick()}
	case k < 9 && len(paths) > 0:
		return workspace.Op{Op: workspace.OpRename, File: pick(), NewFile: fmt.Sprintf("moved/m%d.py", r.IntN(50))}
	case len(paths) > 0:
		x := r.IntN(2) == 0
		return workspace.Op{Op: workspace.OpChmod, File: pick(), Exec: &x}
	}
	return workspace.Op{Op: workspace.OpCreate, File: "new.py", Content: "1"}
}

// TestSubmittedTarballReplaysFromTheLog is the immutable-replay property:
// for random edit histories sent through the log, the tarball stored at
// submit has the digest of the workspace rebuilt from the log at the
// submitted sequence number, and both equal an independent in-memory
// model that applied the same ops directly.
func TestSubmittedTarballReplaysFromTheLog(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			bundle := sampleTask(t, nil)
			for seed := range uint64(6) {
				r := rand.New(rand.NewPCG(seed, 42))
				sub := e.openSubmission(bundle)
				model := bundle.Starter()
				for range 10 + r.IntN(40) {
					op := randomOp(r, model)
					if model.Apply(op) == nil { // only ops valid for the editor's state
						e.appendOps(sub, op)
					}
					if r.IntN(8) == 0 { // a Run caches a tree the submit builds on
						e.createRun(sub, CommandRun)
					}
				}
				s := mustSubmit(t, e, sub)
				checkReplay(t, e, sub, s, model)
			}
		})
	}
}

func mustSubmit(t *testing.T, e *env, sub string) Submitted {
	t.Helper()
	status, body := e.do("POST", "/api/v1/session/submit", sub, nil)
	if status != http.StatusOK {
		t.Fatalf("submit: status %d %s", status, body)
	}
	var s Submitted
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func checkReplay(t *testing.T, e *env, sub string, s Submitted, model *workspace.Tree) {
	t.Helper()
	ctx := context.Background()
	_, want, err := workspace.Archive(model)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := Rebuild(ctx, e.db, sub, s.Seq)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := workspace.Archive(rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if s.Digest != want.String() || got != want {
		t.Fatalf("submitted %s, replayed %s, model %s: want all equal", s.Digest, got, want)
	}
	d, _ := workspace.ParseDigest(s.Digest)
	stored, err := e.blobs.ReadAll(ctx, sub, mustBlobDigest(t, d), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := workspace.ReadArchive(bytesReader(stored), workspace.Limits{})
	if err != nil || !tree.Equal(model) {
		t.Fatalf("stored tarball holds %v (%v), want the model's files %v", tree, err, model)
	}
	snaps := e.events(sub, audit.KindWorkspaceSnapshot)
	var p SnapshotPayload
	json.Unmarshal(snaps[len(snaps)-1].Payload, &p)
	if p.Digest != want || p.Seq != s.Seq {
		t.Fatalf("snapshot event %+v, want digest %s seq %d", p, want, s.Seq)
	}
}
