// Package audit is DevMesh's append-only event log: every keystroke
// batch, terminal line, run, prompt and judgment is an event, a leaf of
// one RFC 6962 Merkle tree whose heads are signed as checkpoints. Events
// come in through a single sequencer per process, which batches them and
// acknowledges each only after its transaction commits. docs/audit.md
// describes the formats byte by byte.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/devmesh/devmesh/store"
	"golang.org/x/mod/sumdb/tlog"
)

// Options configure a Log. The zero value of each field picks a default.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // defaults to time.Now
	// MaxBatch is the number of events that makes the sequencer flush at
	// once; default 1000.
	MaxBatch int
	// MaxDelay is how long the sequencer waits for more events after the
	// first one of a batch arrives; default 2ms.
	MaxDelay time.Duration
	// Signer signs checkpoints; without one the Log appends but signs no
	// checkpoints.
	Signer *Signer
	// CheckpointEvery is how often the signer goroutine signs a new
	// checkpoint while the log grows; default 2s.
	CheckpointEvery time.Duration
}

// Log is the audit log of one database. Open starts its sequencer; Close
// stops it. All methods are safe for concurrent use. One Log per process:
// several processes may share a PostgreSQL database (appends serialise on
// an advisory lock), but within a process a second Log would only add
// contention.
type Log struct {
	db   *store.DB
	log  *slog.Logger
	now  func() time.Time
	opts Options

	reqs chan *request
	stop chan struct{}
	wg   sync.WaitGroup
	// closeMu guards closed: Append enqueues under the read lock, so once
	// Close holds the write lock no request can slip in behind the
	// sequencer's final drain.
	closeMu sync.RWMutex
	closed  bool

	// signMu serialises checkpoint signing within the process.
	signMu sync.Mutex
	// grown is signalled (without blocking) after each committed batch.
	grown chan struct{}
	// stmts are the SQLite insert statements, prepared on first use.
	stmts sqliteStmts
}

// request is one Append call waiting for its batch to commit.
type request struct {
	entries []Entry
	acks    []Ack
	err     error
	done    chan struct{}
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit log is closed")

// Open starts the log's sequencer (and, with a Signer, its checkpoint
// signer) on a migrated database.
func Open(db *store.DB, opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 2 * time.Millisecond
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 2 * time.Second
	}
	l := &Log{db: db, log: opts.Logger, now: opts.Now, opts: opts,
		reqs: make(chan *request, 4096), stop: make(chan struct{}),
		grown: make(chan struct{}, 1)}
	l.wg.Add(1)
	go l.sequence()
	if opts.Signer != nil {
		l.wg.Add(1)
		go l.signLoop()
	}
	return l
}

// Close stops the sequencer after it has answered every pending Append,
// and stops the checkpoint signer. Calling it again does nothing.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.closeMu.Unlock()
	l.wg.Wait()
	for _, st := range []*sql.Stmt{l.stmts.events, l.stmts.hashes} {
		if st != nil {
			st.Close()
		}
	}
	return nil
}

// Append adds entries to the log and returns one ack per entry, in
// order, once all of them are durable. An entry whose (SubmissionID,
// ClientID) is already in the log, or earlier in the same call, is not
// added again: its ack is the original one. Entries are validated first;
// an invalid entry fails the whole call and adds nothing.
func (l *Log) Append(ctx context.Context, entries ...Entry) ([]Ack, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	clean := make([]Entry, len(entries))
	for i, e := range entries {
		var err error
		if clean[i], err = checkEntry(e); err != nil {
			return nil, fmt.Errorf("append entry %d: %w", i, err)
		}
	}
	r := &request{entries: clean, done: make(chan struct{})}
	if err := l.enqueue(ctx, r); err != nil {
		return nil, err
	}
	select {
	case <-r.done:
		return r.acks, r.err
	case <-ctx.Done():
		// The batch may still commit; a retry with the same client ids
		// gets the original acks.
		return nil, ctx.Err()
	}
}

var _ Appender = (*Log)(nil)

func (l *Log) enqueue(ctx context.Context, r *request) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sequence is the sequencer goroutine: it gathers requests into batches
// of about MaxBatch events, or whatever arrived within MaxDelay of the
// first, and commits each batch in one transaction.
func (l *Log) sequence() {
	defer l.wg.Done()
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.stop:
			l.drain()
			return
		}
		l.flush(l.gather(first))
	}
}

// gather collects requests until the batch is full or MaxDelay passed.
func (l *Log) gather(first *request) []*request {
	batch := []*request{first}
	n := len(first.entries)
	timer := time.NewTimer(l.opts.MaxDelay)
	defer timer.Stop()
	for n < l.opts.MaxBatch {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			n += len(r.entries)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// drain answers the requests still queued at Close.
func (l *Log) drain() {
	for {
		select {
		case r := <-l.reqs:
			l.flush([]*request{r})
		default:
			return
		}
	}
}

// flush commits one batch and answers its requests. Requests whose
// caller has gone are still written: the caller may retry, and the
// retry is then answered from the log.
func (l *Log) flush(reqs []*request) {
	var entries []Entry
	for _, r := range reqs {
		entries = append(entries, r.entries...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	acks, err := l.commit(ctx, entries)
	l.log.Debug("audit batch", "events", len(entries), "requests", len(reqs),
		"duration", time.Since(start))
	if err != nil {
		l.log.Warn("audit batch failed", "events", len(entries), "err", err)
	}
	for _, r := range reqs {
		if err != nil {
			r.err = err
		} else {
			r.acks, acks = acks[:len(r.entries)], acks[len(r.entries):]
		}
		close(r.done)
	}
	if err == nil {
		select {
		case l.grown <- struct{}{}:
		default:
		}
	}
}

// commit appends entries in one transaction of the database's dialect.
func (l *Log) commit(ctx context.Context, entries []Entry) ([]Ack, error) {
	now := Micro(l.now())
	if l.db.Dialect == store.Postgres {
		return l.commitPostgres(ctx, entries, now)
	}
	if err := l.stmts.prepare(ctx, l.db.SQL); err != nil {
		return nil, fmt.Errorf("prepare audit inserts: %w", err)
	}
	var acks []Ack
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		acks, _, err = appendTx(ctx, sqliteTx{tx, &l.stmts}, entries, now)
		return err
	})
	return acks, err
}

func (l *Log) commitPostgres(ctx context.Context, entries []Entry, now time.Time) ([]Ack, error) {
	tx, err := l.db.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	acks, _, err := appendTx(ctx, pgTx{tx}, entries, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit audit batch: %w", err)
	}
	return acks, nil
}

// Head returns the current tree size and root hash as last committed.
func (l *Log) Head(ctx context.Context) (int64, tlog.Hash, error) {
	return readHead(ctx, l.db)
}

func readHead(ctx context.Context, db *store.DB) (int64, tlog.Hash, error) {
	var size int64
	var root []byte
	var h tlog.Hash
	err := db.SQL.QueryRowContext(ctx, `SELECT tree_size, root_hash FROM audit_tree_heads
		ORDER BY tree_size DESC LIMIT 1`).Scan(&size, &root)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, h, nil
	}
	if err != nil {
		return 0, h, fmt.Errorf("read tree head: %w", err)
	}
	copy(h[:], root)
	return size, h, nil
}
