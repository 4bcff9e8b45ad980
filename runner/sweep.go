package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/store"
)

// sweeper fails runs whose job River gave up on without the worker
// recording it: a runner that died during the last attempt leaves the
// job to River's rescuer, which discards it. Without the sweep such a
// run would stay "running" forever.
type sweeper struct {
	db    *store.DB
	audit audit.Appender
	log   *slog.Logger
	every time.Duration
}

// lostReason is the reason of a run whose job River discarded.
const lostReason = "the runner stopped during the last attempt; River gave up on the job"

func (s *sweeper) loop(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if _, err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep lost runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
	}
}

// sweep marks failed every unfinished run whose job is discarded or
// cancelled, or gone from the queue, and logs run.finished for each. It
// returns how many it failed.
func (s *sweeper) sweep(ctx context.Context) (int, error) {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT r.id, r.submission_id, r.attempt
		FROM runs r LEFT JOIN river_job j ON j.id = r.job_id
		WHERE r.status IN (?, ?) AND r.job_id IS NOT NULL
		AND (j.id IS NULL OR j.state IN ('discarded', 'cancelled'))
		ORDER BY r.created_at LIMIT 100`), StatusQueued, StatusRunning)
	if err != nil {
		return 0, fmt.Errorf("find lost runs: %w", err)
	}
	type lost struct {
		id, sub string
		attempt int
	}
	var found []lost
	for rows.Next() {
		var l lost
		if err := rows.Scan(&l.id, &l.sub, &l.attempt); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find lost runs: %w", err)
		}
		found = append(found, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find lost runs: %w", err)
	}
	n := 0
	for _, l := range found {
		ok, err := runs{s.db}.finish(ctx, l.id, l.attempt, final{status: StatusFailed, reason: lostReason})
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		payload, _ := json.Marshal(Finished{RunID: l.id, Attempt: l.attempt,
			Status: StatusFailed, Reason: lostReason})
		if _, err := s.audit.Append(ctx, audit.Entry{SubmissionID: l.sub,
			Kind: audit.KindRunFinished, Actor: audit.ActorRunner, Payload: payload}); err != nil {
			return n, fmt.Errorf("log lost run %q: %w", l.id, err)
		}
		s.log.WarnContext(ctx, "run failed", "run", l.id, "reason", lostReason)
	}
	return n, nil
}
