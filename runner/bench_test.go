package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/workspace"
)

// BenchmarkFreeze measures what a Run or Submit costs before the job is
// queued: rebuild from the log (starter plus one op), deterministic
// tarball, encryption and a write-once store on the local blob driver,
// and the snapshot event, for a 200-file, 2 MiB workspace on SQLite.
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
	snap := snapshotter{db: e.db, blobs: e.blobs, audit: e.log}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A fresh edit each time, so each iteration stores a new tarball.
		b.StopTimer()
		e.appendOps(sub, workspace.Op{Op: workspace.OpCreate, File: fmt.Sprintf("n/%d.py", i), Content: "x"})
		b.StartTimer()
		if _, err := snap.freeze(ctx, sub, starter); err != nil {
			b.Fatal(err)
		}
	}
}
