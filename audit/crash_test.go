package audit

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/testenv"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// The crash test re-executes the test binary as a child that ingests
// heavily and prints every ack it receives; the parent SIGKILLs it at a
// random moment, several times, and then checks the database.
const (
	crashChildEnv = "AUDIT_CRASH_CHILD_DB"
	crashKeyEnv   = "AUDIT_CRASH_CHILD_KEY"
	crashRoundEnv = "AUDIT_CRASH_CHILD_ROUND"
	crashWriters  = 20
)

func TestMain(m *testing.M) {
	if url := os.Getenv(crashChildEnv); url != "" {
		crashChild(url)
		return
	}
	os.Exit(m.Run())
}

// crashChild appends until it is killed. Each writer first retries the
// ids of the previous round, then appends new ones; it prints
// "sub id index seq" for every ack.
func crashChild(url string) {
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	signer, err := LoadOrCreateSigner(os.Getenv(crashKeyEnv), "devmesh.test/log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l := Open(db, Options{Signer: signer, CheckpointEvery: 50 * time.Millisecond})
	round := os.Getenv(crashRoundEnv)
	var prev int
	fmt.Sscan(round, &prev)
	prev--
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("sub_%d", w)
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-%d", round, i)
				if i < 30 && prev >= 0 {
					id = fmt.Sprintf("r%d-%d", prev, i) // a retry after the crash
				}
				acks, err := l.Append(ctx, entry(sub, id, i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %s %d %d\n", sub, id, acks[0].Index, acks[0].Seq)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct{ index, seq int64 }

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	t.Run("sqlite", func(t *testing.T) {
		crashRounds(t, filepath.Join(t.TempDir(), "crash.db"), 12)
	})
	t.Run("postgres", func(t *testing.T) {
		crashRounds(t, testenv.PostgresURL(t), 6)
	})
}

func crashRounds(t *testing.T, url string, rounds int) {
	db := storetest.MustOpen(t, url)
	key := filepath.Join(t.TempDir(), "log.key")
	signer, err := LoadOrCreateSigner(key, "devmesh.test/log")
	if err != nil {
		t.Fatal(err)
	}
	acked := map[[2]string]ack{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for r := range rounds {
		lines := runAndKill(t, url, key, r, time.Duration(150+rng.IntN(350))*time.Millisecond)
		for _, ln := range lines {
			var sub, id string
			var a ack
			if _, err := fmt.Sscan(ln, &sub, &id, &a.index, &a.seq); err != nil {
				continue // a line cut short by the kill
			}
			k := [2]string{sub, id}
			if old, ok := acked[k]; ok && old != a {
				t.Fatalf("round %d: %s/%s acked as %+v, earlier as %+v", r, sub, id, a, old)
			}
			acked[k] = a
		}
	}
	if len(acked) < rounds {
		t.Fatalf("only %d acks in %d rounds: the child did not ingest", len(acked), rounds)
	}
	checkAcked(t, db, acked)
	if err := Verify(t.Context(), db, signer.VerifierKey(), nil); err != nil {
		t.Fatalf("Verify after crashes: %v", err)
	}
	t.Logf("%d rounds, %d acknowledged events, all present", rounds, len(acked))
}

// runAndKill runs one child for about d, SIGKILLs it, and returns the
// lines it printed.
func runAndKill(t *testing.T, url, key string, round int, d time.Duration) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+url, crashKeyEnv+"="+key,
		fmt.Sprintf("%s=%d", crashRoundEnv, round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}()
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
	}
	return lines
}

// checkAcked checks that every acknowledged event is stored with its ack
// and that each submission's sequence numbers are dense.
func checkAcked(t *testing.T, db *store.DB, acked map[[2]string]ack) {
	t.Helper()
	for k, a := range acked {
		var idx, seq int64
		err := db.SQL.QueryRow(db.Rebind(`SELECT idx, seq FROM audit_events
			WHERE submission_id = ? AND client_id = ?`), k[0], k[1]).Scan(&idx, &seq)
		if err != nil || idx != a.index || seq != a.seq {
			t.Fatalf("acked %s/%s %+v: stored (%d, %d), %v", k[0], k[1], a, idx, seq, err)
		}
	}
	rows, err := db.SQL.Query(`SELECT submission_id, COUNT(*), MAX(seq) FROM audit_events GROUP BY submission_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub string
		var n, max int64
		if err := rows.Scan(&sub, &n, &max); err != nil {
			t.Fatal(err)
		}
		if n != max {
			t.Errorf("%s: %d events but highest seq %d", sub, n, max)
		}
	}
}
