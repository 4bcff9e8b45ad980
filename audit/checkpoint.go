package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed tree head in the C2SP tlog-checkpoint format:
// the note text is "<origin>\n<size>\n<base64 root hash>\n", followed by
// the note signature lines.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte // the signed note, text and signatures
}

// FormatCheckpoint returns the checkpoint body for a tree.
func FormatCheckpoint(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpoint parses a checkpoint body. Extension lines after the
// root hash are allowed and ignored, as the format permits.
func ParseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 4 || !strings.HasSuffix(text, "\n") {
		return "", 0, root, fmt.Errorf("invalid checkpoint %q: want origin, size and root lines", text)
	}
	origin = strings.TrimSuffix(lines[0], "\n")
	sizeLine := strings.TrimSuffix(lines[1], "\n")
	size, err = strconv.ParseInt(sizeLine, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sizeLine {
		return "", 0, root, fmt.Errorf("invalid checkpoint size %q", sizeLine)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, fmt.Errorf("invalid checkpoint root hash %q", lines[2])
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// OpenCheckpoint checks a signed checkpoint against the log's verifier
// key and parses it. The origin line must be the key's name.
func OpenCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("invalid verifier key %q: %w", verifierKey, err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("open checkpoint: %w", err)
	}
	origin, size, root, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the key's %q", origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signed}, nil
}

// ErrEmptyLog is returned when a checkpoint is asked of a log that has
// no events yet.
var ErrEmptyLog = errs.E(errs.NotFound, "audit log is empty: no checkpoint yet")

// Checkpoint signs and stores a checkpoint of the log as it stands now,
// unless the latest stored one already covers every event, and returns
// it. Call it when a submission closes, so its last events are covered.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if l.opts.Signer == nil {
		return Checkpoint{}, errors.New("sign checkpoint: the log has no signer")
	}
	l.signMu.Lock()
	defer l.signMu.Unlock()
	size, root, err := l.Head(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if size == 0 {
		return Checkpoint{}, ErrEmptyLog
	}
	latest, err := LatestCheckpoint(ctx, l.db.SQL)
	if err == nil && latest.Size >= size {
		return latest, nil
	}
	return l.sign(ctx, size, root)
}

func (l *Log) sign(ctx context.Context, size int64, root tlog.Hash) (Checkpoint, error) {
	s := l.opts.Signer
	signed, err := note.Sign(&note.Note{Text: FormatCheckpoint(s.origin, size, root)}, s.signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint: %w", err)
	}
	// Ed25519 signatures are deterministic, so another process that
	// signed the same size stored the same note.
	_, err = l.db.SQL.ExecContext(ctx, l.db.Rebind(`INSERT INTO audit_checkpoints
		(tree_size, note, created_at) VALUES (?, ?, ?)
		ON CONFLICT (tree_size) DO NOTHING`), size, string(signed), Micro(l.now()))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("store checkpoint %d: %w", size, err)
	}
	l.log.Info("checkpoint signed", "size", size)
	return Checkpoint{Origin: s.origin, Size: size, Root: root, Note: signed}, nil
}

// LatestCheckpoint returns the stored checkpoint of the largest tree,
// without checking its signature; ErrEmptyLog when there is none.
func LatestCheckpoint(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (Checkpoint, error) {
	var signed string
	err := q.QueryRowContext(ctx, `SELECT note FROM audit_checkpoints
		ORDER BY tree_size DESC LIMIT 1`).Scan(&signed)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, ErrEmptyLog
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read latest checkpoint: %w", err)
	}
	return parseSigned([]byte(signed))
}

// parseSigned parses a stored note without verifying its signature.
func parseSigned(signed []byte) (Checkpoint, error) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, errors.New("stored checkpoint is not a signed note")
	}
	origin, size, root, err := ParseCheckpoint(string(signed[:i+1]))
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signed}, nil
}

// signLoop signs a checkpoint every CheckpointEvery while the log grows.
func (l *Log) signLoop() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.CheckpointEvery)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case <-l.stop:
			return
		case <-l.grown:
			dirty = true
		case <-tick.C:
			if !dirty {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := l.Checkpoint(ctx); err != nil {
				l.log.Warn("sign checkpoint", "err", err)
			} else {
				dirty = false
			}
			cancel()
		}
	}
}
