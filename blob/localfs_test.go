package blob_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
)

// Environment of the child process in TestLocalTwoProcessRace.
const (
	raceChildEnv = "DEVMESH_BLOB_RACE_CHILD"
	raceKeys     = 40
)

func raceKey(i int) string { return fmt.Sprintf("v1/race/%064x", i) }

// TestMain lets the test binary act as the second writer process.
func TestMain(m *testing.M) {
	if spec := os.Getenv(raceChildEnv); spec != "" {
		os.Exit(raceChild(spec))
	}
	os.Exit(m.Run())
}

// raceChild waits for the start file, then tries to create every race
// key with content naming itself, and prints what happened to each.
func raceChild(spec string) int {
	root, name, _ := strings.Cut(spec, ",")
	b, err := blob.NewLocalBackend(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(root, "start")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "start file never appeared")
			return 2
		}
		time.Sleep(time.Millisecond)
	}
	for i := range raceKeys {
		content := bytes.Repeat([]byte(name), 20000)
		err := b.Create(context(), raceKey(i), bytes.NewReader(content))
		switch {
		case err == nil:
			fmt.Println(i, "created")
		case errors.Is(err, blob.ErrExists):
			fmt.Println(i, "exists")
		default:
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// TestLocalTwoProcessRace runs two real processes that create the same
// keys at the same time: link(2) must let exactly one win each key, and
// the file must hold exactly the winner's bytes.
func TestLocalTwoProcessRace(t *testing.T) {
	root := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"A", "B"}
	outs := make([]*bytes.Buffer, len(names))
	cmds := make([]*exec.Cmd, len(names))
	for i, name := range names {
		cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), raceChildEnv+"="+root+","+name)
		outs[i] = &bytes.Buffer{}
		cmd.Stdout = outs[i]
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(root, "start"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %s: %v", names[i], err)
		}
	}

	creator := map[int]string{}
	for i, out := range outs {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var k int
			var what string
			fmt.Sscan(sc.Text(), &k, &what)
			if what != "created" {
				continue
			}
			if prev, ok := creator[k]; ok {
				t.Fatalf("key %d created by both %s and %s", k, prev, names[i])
			}
			creator[k] = names[i]
		}
	}
	b := mustLocal(t, root)
	for k := range raceKeys {
		who, ok := creator[k]
		if !ok {
			t.Fatalf("key %d created by nobody", k)
		}
		got, err := os.ReadFile(b.Path(raceKey(k)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte(who), 20000)) {
			t.Fatalf("key %d holds bytes other than its creator %s wrote", k, who)
		}
	}
	t.Logf("creators: %v", creator)
	assertNoTemps(t, root)
}

func assertNoTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

// failingReader fails after n bytes, as a client that disconnects, or a
// disk that fills up, would.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestLocalFailedWriteLeavesNothing(t *testing.T) {
	f := localFixture(t, encrypted(t))
	root := f.Store.Backend().(*blob.LocalBackend).Root()
	b, d := blobtest.Content(t, 300<<10)
	boom := errors.New("connection reset")

	_, err := f.Store.Put(t.Context(), "s1", d, &failingReader{bytes.NewReader(b), 100 << 10, boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put with a failing reader: got %v, want the reader's error", err)
	}
	if _, err := f.Store.Stat(t.Context(), "s1", d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after a failed Put, Stat: got %v, want ErrNotFound", err)
	}
	assertNoTemps(t, root)
	if info := blobtest.MustPut(t, f.Store, "s1", b); !info.Created {
		t.Fatal("retry after a failed Put did not create the object")
	}
}

// TestLocalCrashLeftoverDoesNotBlock plants what a writer that crashed
// between writing and linking leaves behind: retries succeed, and Sweep
// removes only leftovers older than its age.
func TestLocalCrashLeftoverDoesNotBlock(t *testing.T) {
	f := localFixture(t, encrypted(t))
	lb := f.Store.Backend().(*blob.LocalBackend)
	b, d := blobtest.Content(t, 1000)
	key, _ := blob.ObjectKey("s1", d)
	dir := filepath.Dir(lb.Path(key))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, ".tmp-crashed")
	young := filepath.Join(dir, ".tmp-inflight")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, b[:500], 0o440); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	os.Chtimes(old, now.Add(-2*time.Hour), now.Add(-2*time.Hour))

	if info := blobtest.MustPut(t, f.Store, "s1", b); !info.Created {
		t.Fatal("Put next to a crash leftover did not create the object")
	}
	n, err := lb.Sweep(t.Context(), time.Hour, now)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Sweep kept the stale temporary file")
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatal("Sweep removed a temporary file of a write that may be in progress")
	}
	blobtest.MustGet(t, f.Store, "s1", d)
}

func TestLocalObjectsAreReadOnly(t *testing.T) {
	f := localFixture(t, encrypted(t))
	info := blobtest.MustPut(t, f.Store, "s1", []byte("x"))
	fi, err := os.Stat(f.Store.Backend().(*blob.LocalBackend).Path(info.Key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o440 {
		t.Fatalf("object mode %v, want 0440", fi.Mode().Perm())
	}
}

// TestLocalDiskFull fills a small tmpfs. It needs root to mount one,
// which CI has.
func TestLocalDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	s := mustStore(t, mustLocal(t, dir), encrypted(t))
	b, d := blobtest.Content(t, 1<<20)
	_, err := s.Put(t.Context(), "s1", d, bytes.NewReader(b))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: got %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("error %q does not say the disk is full", err)
	}
	if _, err := s.Stat(t.Context(), "s1", d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after a full disk, Stat: got %v, want ErrNotFound", err)
	}
	assertNoTemps(t, dir)
	small, _ := blobtest.Content(t, 1000)
	blobtest.MustPut(t, s, "s1", small)
}
