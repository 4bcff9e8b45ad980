package audit

import (
	"context"
	"encoding/json"
	"time"
)

// Kind is the kind of an audit event. The strings are stored in the log
// and hashed into it: never rename, reorder or reuse one.
type Kind string

// Event kinds.
const (
	KindSubmissionOpened    Kind = "submission.opened"
	KindEditorOps           Kind = "editor.ops"
	KindWorkspaceSnapshot   Kind = "workspace.snapshot"
	KindTerminalInput       Kind = "terminal.input"
	KindTerminalOutput      Kind = "terminal.output"
	KindRunStarted          Kind = "run.started"
	KindRunFinished         Kind = "run.finished"
	KindAIRequest           Kind = "ai.request"
	KindAIResponse          Kind = "ai.response"
	KindLedgerReserved      Kind = "ledger.reserved"
	KindLedgerSettled       Kind = "ledger.settled"
	KindSubmissionSubmitted Kind = "submission.submitted"
	KindEvalObservation     Kind = "eval.observation"
	KindEvalJudgeCall       Kind = "eval.judge_call"
	KindReportIssued        Kind = "report.issued"
	KindUIFocus             Kind = "ui.focus" // the IDE gained focus
	KindUIBlur              Kind = "ui.blur"  // the IDE lost focus
	KindUIPaste             Kind = "ui.paste" // a paste into the editor, as a marker
)

// Actor says who caused an event. Stored: never rename or reuse.
type Actor string

// Actors.
const (
	ActorCandidate Actor = "candidate"
	ActorRecruiter Actor = "recruiter"
	ActorSystem    Actor = "system"
	ActorRunner    Actor = "runner"
	ActorJudge     Actor = "judge"
)

// Entry is an event offered to the log. The log assigns its index, its
// per-submission sequence number and its server time.
type Entry struct {
	SubmissionID string
	Kind         Kind
	Actor        Actor
	ClientTime   *time.Time // as reported by the client, if any
	ClientID     string     // the client's event id; retries with the same id are deduplicated
	Payload      json.RawMessage
}

// Ack is the log's receipt for one appended entry, given only after the
// entry is durable.
type Ack struct {
	Index int64 // global Merkle leaf index
	Seq   int64 // sequence number within the submission, from 1
}

// Appender is what event producers (the ingest API, runs, the relay, the
// judge) need of the log.
type Appender interface {
	Append(ctx context.Context, entries ...Entry) ([]Ack, error)
}
