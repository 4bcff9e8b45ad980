package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

func TestEventsPageWithReceipts(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		seedTen(t, e)
		mustAppend(t, e.log, entry("sub_other", "1", 1))

		var page EventsPage
		path := "/api/v1/submissions/" + e.sub + "/events?after=2&limit=5"
		if st, body := e.do(t, "GET", path, "recruiter:"+e.org, nil, &page); st != 200 {
			t.Fatalf("%s: %d %s", path, st, body)
		}
		if len(page.Receipts) != 5 || page.Receipts[0].Event.Seq != 3 || page.NextAfter == nil || *page.NextAfter != 7 {
			t.Fatalf("page = %d receipts from seq %d, next %v; want 5 from seq 3, next 7",
				len(page.Receipts), page.Receipts[0].Event.Seq, page.NextAfter)
		}
		raw, _ := json.Marshal(page)
		if n, err := VerifyReceipts(raw, testVerifierKey(t)); err != nil || n != 5 {
			t.Fatalf("VerifyReceipts = %d, %v; want 5, nil", n, err)
		}
		path = "/api/v1/submissions/" + e.sub + "/events"
		if st, _ := e.do(t, "GET", path, "recruiter:org_other", nil, nil); st != 404 {
			t.Errorf("another organisation's recruiter: status %d, want 404", st)
		}
		if st, _ := e.do(t, "GET", path, "candidate:"+e.sub, nil, nil); st != 401 {
			t.Errorf("candidate token: status %d, want 401", st)
		}
	})
}

func TestVerifyReceiptsRefuses(t *testing.T) {
	e := newEnv(t, mustSQLite(t))
	seedTen(t, e)
	var page EventsPage
	e.do(t, "GET", "/api/v1/submissions/"+e.sub+"/events", "recruiter:"+e.org, nil, &page)
	one := page.Receipts[3]
	mutate := func(f func(r *Receipt)) []byte {
		r := one
		r.Proof = append([]string(nil), one.Proof...)
		f(&r)
		b, _ := json.Marshal(r)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		key  string
	}{
		{"another key", mutate(func(*Receipt) {}), mustSigner(t).VerifierKey()},
		{"changed payload", mutate(func(r *Receipt) { r.Event.Payload = json.RawMessage(`{"data":"line 9"}`) }), ""},
		{"changed index", mutate(func(r *Receipt) { r.Index, r.Event.Index = 2, 2 }), ""},
		{"changed proof", mutate(func(r *Receipt) { r.Proof[0] = r.Proof[1] }), ""},
		{"edited checkpoint", mutate(func(r *Receipt) { r.Checkpoint = strings.Replace(r.Checkpoint, "\n10\n", "\n11\n", 1) }), ""},
		{"no receipts", []byte(`{"receipts":[]}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = testVerifierKey(t)
			}
			if _, err := VerifyReceipts(tt.in, key); err == nil {
				t.Errorf("VerifyReceipts accepted %s", tt.in)
			}
		})
	}
	if _, err := VerifyReceipts(mutate(func(*Receipt) {}), testVerifierKey(t)); err != nil {
		t.Fatalf("the unmodified receipt fails: %v", err)
	}
}

// TestReceiptGolden pins the JSON form of a receipt.
func TestReceiptGolden(t *testing.T) {
	r := Receipt{Event: goldenEvents()[1], Index: 1, Proof: []string{strings.Repeat("A", 43) + "="},
		Checkpoint: "devmesh.test/log\n2\n" + strings.Repeat("B", 43) + "=\n\n— devmesh.test/log sig\n"}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "receipt.golden", append(b, '\n'))
}

func TestReplay(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ops := []string{
			`{"op":"create","file":"main.py","content":"print(1)\n"}`,
			`{"file":"main.py","changes":[{"from":6,"to":7,"insert":"42"}]}`,
			`{"op":"create","file":"run.sh","content":"#!/bin/sh\n","exec":true}`,
			`{"op":"rename","file":"main.py","new_file":"src/main.py"}`,
		}
		var entries []Entry
		for i, op := range ops {
			entries = append(entries, Entry{SubmissionID: e.sub, Kind: KindEditorOps,
				Actor: ActorCandidate, ClientID: fmt.Sprint(i), Payload: json.RawMessage(op)})
		}
		mustAppend(t, e.log, entries...)
		mustAppend(t, e.log, entry(e.sub, "t", 9)) // not an editor op: ignored

		want := map[int64]string{
			0: "",
			1: "main.py:print(1)\n",
			2: "main.py:print(42)\n",
			3: "main.py:print(42)\n|run.sh*:#!/bin/sh\n",
			5: "run.sh*:#!/bin/sh\n|src/main.py:print(42)\n",
		}
		for seq, files := range want {
			var resp ReplayResponse
			path := fmt.Sprintf("/api/v1/submissions/%s/replay?seq=%d", e.sub, seq)
			if st, body := e.do(t, "GET", path, "recruiter:"+e.org, nil, &resp); st != 200 {
				t.Fatalf("%s: %d %s", path, st, body)
			}
			if got := dumpFiles(resp.Files); got != files {
				t.Errorf("replay at seq %d = %q, want %q", seq, got, files)
			}
		}
		if st, _ := e.do(t, "GET", "/api/v1/submissions/"+e.sub+"/replay?seq=1", "recruiter:org_other", nil, nil); st != 404 {
			t.Errorf("another organisation: status %d, want 404", st)
		}
	})
}

func dumpFiles(fs []ReplayFile) string {
	var parts []string
	for _, f := range fs {
		x := ""
		if f.Exec {
			x = "*"
		}
		parts = append(parts, f.Path+x+":"+f.Content)
	}
	return strings.Join(parts, "|")
}

// TestReplayChecksSnapshots: a snapshot that matches the ops before it
// passes; one that does not stops the replay.
func TestReplayChecksSnapshots(t *testing.T) {
	db := mustSQLite(t)
	l := mustLog(t, db, Options{})
	tree := workspace.NewTree(workspace.DefaultLimits())
	op := workspace.Op{Op: workspace.OpCreate, File: "a.py", Content: "x = 1\n"}
	if err := tree.Apply(op); err != nil {
		t.Fatal(err)
	}
	_, digest, err := workspace.Archive(tree)
	if err != nil {
		t.Fatal(err)
	}
	opJSON, _ := json.Marshal(op)
	good, _ := json.Marshal(Snapshot{Digest: digest})
	mustAppend(t, l,
		Entry{SubmissionID: "s", Kind: KindEditorOps, Actor: ActorCandidate, Payload: opJSON},
		Entry{SubmissionID: "s", Kind: KindWorkspaceSnapshot, Actor: ActorSystem, Payload: good},
		Entry{SubmissionID: "s", Kind: KindEditorOps, Actor: ActorCandidate, Payload: json.RawMessage(`{"op":"delete","file":"a.py"}`)},
		Entry{SubmissionID: "s", Kind: KindWorkspaceSnapshot, Actor: ActorSystem, Payload: good},
	)
	rp := NewReplayer(db, workspace.DefaultLimits())
	if _, err := rp.Replay(t.Context(), "s", 3); err != nil {
		t.Fatalf("replay through a matching snapshot: %v", err)
	}
	if _, err := rp.Replay(t.Context(), "s", 4); err == nil || !strings.Contains(err.Error(), "seq 4") {
		t.Fatalf("replay through a wrong snapshot = %v, want an error naming seq 4", err)
	}
}
