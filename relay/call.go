package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/server"
)

// settleTimeout bounds the ledger and audit writes that close a request;
// they run even after the client has gone.
const settleTimeout = 30 * time.Second

// errFirstByte cancels an upstream call whose first event is late.
var errFirstByte = errors.New("no answer from the model provider within the first-byte timeout")

// call is one relayed request in progress.
type call struct {
	sub     string
	f       format
	req     *Request
	model   Model
	rsv     ledger.Reservation
	start   time.Time
	first   time.Duration // time to the first upstream event; 0 if none
	resp    Response
	settled ledger.Settlement
	// upctx is the upstream call's context; its cause tells a
	// first-byte timeout from a client that left.
	upctx context.Context
}

// handle serves one generation endpoint in format f.
func (rl *Relay) handle(f format) server.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := rl.serve(w, r, f)
		if errors.Is(err, ledger.ErrExhausted) {
			// A spent budget does not come back by retrying.
			w.Header().Set(headerShouldRetry, "false")
		}
		return err
	}
}

func (rl *Relay) serve(w http.ResponseWriter, r *http.Request, f format) error {
	sub, err := submissionOf(r)
	if err != nil {
		return err
	}
	release, wait, err := rl.limits.acquire(sub)
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return err
	}
	defer release()

	c, err := rl.prepare(r, sub, f)
	if err != nil {
		return err
	}
	if err := rl.reserve(r.Context(), c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), rl.cfg.RequestTimeout,
		errors.New("relay request timeout"))
	defer cancel()
	if c.req.Stream {
		return rl.streamTo(ctx, w, c)
	}
	return rl.collect(ctx, w, c)
}

// prepare reads and checks the request and resolves its model.
func (rl *Relay) prepare(r *http.Request, sub string, f format) (*call, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	req, err := f.decode(body, r.Header, false)
	if err != nil {
		return nil, err
	}
	p, err := rl.account(r.Context(), sub)
	if err != nil {
		return nil, err
	}
	if !p.Deadline.IsZero() && !rl.now().Before(p.Deadline) {
		return nil, errs.E(errs.Conflict, "the session's time is up: the assistant is closed")
	}
	m, err := rl.model(p, req.Model)
	if err != nil {
		return nil, err
	}
	if req.MaxTokens > rl.cfg.MaxOutput {
		return nil, errs.E(errs.Invalid, "invalid max tokens %d: the relay allows at most %d",
			req.MaxTokens, rl.cfg.MaxOutput)
	}
	return &call{sub: sub, f: f, req: req, model: m}, nil
}

// reserve sets the worst case aside and records the request in the
// audit log before anything leaves for the provider.
func (rl *Relay) reserve(ctx context.Context, c *call) error {
	in := inputBound(c.req, c.model.Bound, rl.cfg.ImageTokens)
	if c.req.MaxTokens == 0 {
		// No ceiling from the client: inject one, shrunk to what the
		// budget still allows, so the provider cannot run past it.
		b, err := rl.ledger.Balance(ctx, c.sub)
		if err != nil {
			return err
		}
		c.req.MaxTokens = max(min(rl.cfg.DefaultMaxOutput, b.Remaining()-in), rl.cfg.MinOutput)
	}
	rsv, err := rl.ledger.Reserve(ctx, c.sub, in+c.req.MaxTokens)
	if err != nil {
		return err
	}
	c.rsv, c.start = rsv, rl.now()
	err = rl.appendEvents(ctx, c.sub,
		ledgerReserved{ReservationID: rsv.ID, Amount: rsv.Amount, InputBound: in,
			OutputCeiling: c.req.MaxTokens, Remaining: rsv.Remaining},
		aiRequest{ReservationID: rsv.ID, Endpoint: c.f.name(), Model: c.req.Model,
			Provider: c.model.Provider.Name(), Upstream: c.model.Upstream, Request: c.req})
	if err != nil {
		// Fail closed: a prompt that is not in the audit log never leaves.
		rl.close(ctx, c, outcomeUpstreamFail, err)
		return errs.Wrap(errs.Unavailable, err, "the audit log is unavailable; nothing was sent")
	}
	return nil
}

// open starts the upstream call. The returned stream's context is
// cancelled if no event arrives within the first-byte timeout.
func (rl *Relay) open(ctx context.Context, c *call) (Stream, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	c.upctx = ctx
	timer := time.AfterFunc(rl.cfg.FirstByteTimeout, func() { cancel(errFirstByte) })
	up := *c.req
	up.Model = c.model.Upstream
	st, err := c.model.Provider.Stream(ctx, &up)
	if err != nil {
		timer.Stop()
		cancel(nil)
		if context.Cause(ctx) == errFirstByte {
			err = errFirstByte
		}
		return nil, nil, err
	}
	gotFirst := func() { timer.Stop() }
	return &closingStream{Stream: st, cancel: func() { timer.Stop(); cancel(nil) }}, gotFirst, nil
}

// closingStream cancels its context when closed.
type closingStream struct {
	Stream
	cancel func()
}

func (s *closingStream) Close() error {
	err := s.Stream.Close()
	s.cancel()
	return err
}

// pump reads st to its end, applying each event to c.resp and handing
// it to emit (which may be nil). It returns how the call ended.
func (rl *Relay) pump(ctx context.Context, c *call, st Stream, gotFirst func(), emit func(Event) error) (string, error) {
	for {
		e, err := st.Next()
		if errors.Is(err, io.EOF) {
			if c.resp.UsageKnown {
				return outcomeCompleted, nil
			}
			return outcomeNoUsage, nil
		}
		if err != nil {
			return rl.classify(ctx, c, err)
		}
		if c.first == 0 {
			c.first = max(rl.now().Sub(c.start), time.Nanosecond)
			gotFirst()
		}
		c.resp.apply(e)
		if emit == nil {
			continue
		}
		if err := emit(e); err != nil {
			return outcomeClientGone, err
		}
	}
}

// classify names the outcome of a stream that failed with err.
func (rl *Relay) classify(ctx context.Context, c *call, err error) (string, error) {
	switch {
	case context.Cause(c.upctx) == errFirstByte && c.first == 0:
		return outcomeUpstreamFail, errFirstByte
	case ctx.Err() != nil:
		return outcomeClientGone, err
	case c.first == 0:
		return outcomeUpstreamFail, err
	}
	return outcomeUpstreamCut, err
}

// close settles the reservation by outcome and records the response:
// released if the provider produced nothing, settled with the reported
// usage if there is one, forfeited (charged in full) otherwise.
func (rl *Relay) close(ctx context.Context, c *call, outcome string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	var (
		s   ledger.Settlement
		err error
	)
	switch {
	case outcome == outcomeUpstreamFail && c.first == 0:
		s, err = rl.ledger.Release(ctx, c.rsv.ID)
	case c.resp.UsageKnown:
		s, err = rl.ledger.Settle(ctx, c.rsv.ID, c.resp.Usage)
	default:
		s, err = rl.ledger.Forfeit(ctx, c.rsv.ID)
	}
	if err != nil {
		rl.log.ErrorContext(ctx, "settle reservation", "reservation", c.rsv.ID, "err", err)
		return
	}
	c.settled = s
	ev := aiResponse{ReservationID: c.rsv.ID, Outcome: outcome, Parts: c.resp.Parts,
		Stop: c.resp.Stop, Usage: c.resp.Usage, UsageKnown: c.resp.UsageKnown,
		LatencyMS: ms(rl.now().Sub(c.start)), FirstEventMS: ms(c.first)}
	if cause != nil {
		ev.Error = safeCause(cause)
	}
	if err := rl.appendEvents(ctx, c.sub, ev, s); err != nil {
		rl.log.ErrorContext(ctx, "record relay response", "reservation", c.rsv.ID, "err", err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// safeCause renders an upstream failure for the audit log: provider
// errors are already sanitised; anything else is named by kind only.
func safeCause(err error) string {
	var ue *UpstreamError
	switch {
	case errors.As(err, &ue):
		return ue.Error()
	case errors.Is(err, errFirstByte):
		return errFirstByte.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case strings.Contains(err.Error(), "unexpected EOF"):
		return "stream ended early"
	}
	return "stream failed"
}

// collect serves a client that wants one whole response.
func (rl *Relay) collect(ctx context.Context, w http.ResponseWriter, c *call) error {
	st, gotFirst, err := rl.open(ctx, c)
	if err != nil {
		rl.close(ctx, c, outcomeUpstreamFail, err)
		return clientError(err)
	}
	outcome, err := rl.pump(ctx, c, st, gotFirst, nil)
	st.Close()
	switch outcome {
	case outcomeUpstreamFail, outcomeUpstreamCut:
		rl.close(ctx, c, outcome, err)
		return clientError(err)
	case outcomeClientGone:
		rl.close(ctx, c, outcome, err)
		return nil
	}
	// The answer leaves before the settlement commits, as a stream's
	// does: until then the reservation still holds the worst case, so
	// nothing can overspend meanwhile, and the client does not wait for
	// a second synchronous commit. The header is the remainder right
	// after this settlement, not counting other requests in between.
	setRemaining(w, c.rsv.Remaining+c.rsv.Amount-c.charge())
	c.resp.ID, c.resp.Model = c.rsv.ID, c.req.Model
	werr := c.f.respond(w, c.req, &c.resp)
	rl.close(ctx, c, outcome, nil)
	if werr != nil {
		rl.log.DebugContext(ctx, "write relay response", "reservation", c.rsv.ID, "err", werr)
	}
	return nil
}

// charge is what settling c will charge: the reported usage capped at
// the reservation, or the whole reservation when usage is unknown.
func (c *call) charge() int64 {
	if !c.resp.UsageKnown {
		return c.rsv.Amount
	}
	return min(c.resp.Usage.Total(), c.rsv.Amount)
}

// streamTo serves a streaming client. Headers leave with the first
// upstream event, so a provider that fails before answering still
// yields a plain HTTP error.
func (rl *Relay) streamTo(ctx context.Context, w http.ResponseWriter, c *call) error {
	st, gotFirst, err := rl.open(ctx, c)
	if err != nil {
		rl.close(ctx, c, outcomeUpstreamFail, err)
		return clientError(err)
	}
	defer st.Close()
	c.resp.ID, c.resp.Model = c.rsv.ID, c.req.Model
	sw := newSSEWriter(w)
	enc := c.f.encoder(sw, c.req, &c.resp)
	began := false
	outcome, err := rl.pump(ctx, c, st, gotFirst, func(e Event) error {
		if !began {
			began = true
			setRemaining(w, c.rsv.Remaining)
			if err := sw.start(); err != nil {
				return err
			}
			if err := enc.begin(); err != nil {
				return err
			}
		}
		return enc.event(e)
	})
	st.Close()
	rl.close(ctx, c, outcome, err)
	switch {
	case !began && outcome != outcomeClientGone && outcome != outcomeCompleted && outcome != outcomeNoUsage:
		return clientError(err)
	case outcome == outcomeUpstreamCut:
		enc.fail("the model provider's stream broke off")
	case outcome == outcomeCompleted, outcome == outcomeNoUsage:
		if !began {
			setRemaining(w, c.rsv.Remaining)
			if err := sw.start(); err != nil {
				return nil
			}
			enc.begin()
		}
		enc.end()
	}
	return nil
}
