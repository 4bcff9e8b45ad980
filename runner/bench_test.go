package runner

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/workspace"
)

// BenchmarkFreeze measures what a Run or Submit costs before the job is
// queued: rebuild from the log (200 create ops and a few more), deterministic
// tarball, encryption and a write-once store on the local blob driver,
// and the snapshot event, for a 200-file, 2 MiB workspace on SQLite.
// "warm" starts from the tree the previous freeze rebuilt (a candidate
// pressing Run again); "cold" replays the whole log (a fresh process).
func BenchmarkFreeze(b *testing.B) {
	e := newEnv(b, storetest.Backends()[0])
	bundle := sampleTask(b, nil)
	starter := workspace.NewTree(workspace.Limits{})
	for i := range 200 {
		body := strings.Repeat(fmt.Sprintf("line %d of file %d: value = compute(%d)\n", i, i, i*7), 400)
		if err := starter.Put(fmt.Sprintf("pkg%d/file%03d.py", i%10, i), workspace.File{Content: body[:10<<10]}); err != nil {
			b.Fatal(err)
		}
	}
	sub := e.openSubmission(bundle)
	e.appendTree(sub, starter)
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) { benchFreeze(b, e, sub, cold) })
	}
}

// benchFiles numbers the files the benchmark creates, so no create
// clashes across runs on the same submission.
var benchFiles atomic.Int64

// benchFreeze freezes sub after one new op per iteration; cold drops the
// cached tree first, so the whole log is read and applied.
func benchFreeze(b *testing.B, e *env, sub string, cold bool) {
	snap := snapshotter{db: e.db, blobs: e.blobs, audit: e.log, trees: &treeCache{}}
	ctx := context.Background()
	for b.Loop() {
		// A fresh edit each time, so each iteration stores a new tarball.
		b.StopTimer()
		e.appendOps(sub, workspace.Op{Op: workspace.OpCreate, File: fmt.Sprintf("n/%d.py", benchFiles.Add(1)), Content: "x"})
		if cold {
			snap.trees = &treeCache{}
		}
		b.StartTimer()
		if _, err := snap.freeze(ctx, sub); err != nil {
			b.Fatal(err)
		}
	}
}
