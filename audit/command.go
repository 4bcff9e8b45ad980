package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/devmesh/devmesh/store"
)

// VerifyCommand is `devmesh audit verify`: it runs Verify, drawing a
// progress bar on stderr when stderr is a terminal, and prints the
// outcome on stdout. A non-nil error means the log did not verify (or
// could not be read); its message names the first bad event.
func VerifyCommand(ctx context.Context, db *store.DB, verifierKey string, stdout, stderr io.Writer) error {
	start := time.Now()
	var progress Progress
	if isTerminal(stderr) {
		progress = progressBar(stderr)
	}
	err := Verify(ctx, db, verifierKey, progress)
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	var ve *VerifyError
	if errors.As(err, &ve) {
		fmt.Fprintf(stdout, "FAIL: event %d: %s\n", ve.Index, ve.Reason)
		return err
	}
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	size, _, err := readHead(ctx, db)
	if err != nil {
		return err
	}
	cp, cpErr := LatestCheckpoint(ctx, db.SQL)
	fmt.Fprintf(stdout, "ok: %d events verified in %s", size, time.Since(start).Round(time.Millisecond))
	if cpErr == nil {
		fmt.Fprintf(stdout, "; latest signed checkpoint covers %d", cp.Size)
	}
	fmt.Fprintln(stdout)
	return nil
}

// isTerminal reports whether w is a character device, such as a
// terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar redraws one line of the form "[#####.....] 50% 5/10".
func progressBar(w io.Writer) Progress {
	const width = 40
	return func(done, total int64) {
		filled := width
		if total > 0 {
			filled = int(done * width / total)
		}
		pct := int64(100)
		if total > 0 {
			pct = done * 100 / total
		}
		fmt.Fprintf(w, "\r[%s%s] %3d%% %d/%d", strings.Repeat("#", filled),
			strings.Repeat(".", width-filled), pct, done, total)
	}
}
