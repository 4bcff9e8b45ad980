package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
)

// tracedSQLite is the modernc.org/sqlite driver with a client span around
// every statement, as pgTracer gives PostgreSQL. Spans carry the
// statement's first keyword only, never its arguments.
const tracedSQLite = "sqlite-traced"

var registerTraced sync.Once

func registerTracedSQLite() {
	registerTraced.Do(func() {
		sql.Register(tracedSQLite, &tracedDriver{base: &sqlite.Driver{},
			tr: otel.Tracer("github.com/devmesh/devmesh/store")})
	})
}

type tracedDriver struct {
	base driver.Driver
	tr   trace.Tracer
}

func (d *tracedDriver) Open(name string) (driver.Conn, error) {
	c, err := d.base.Open(name)
	if err != nil {
		return nil, err
	}
	return &tracedConn{Conn: c, tr: d.tr}, nil
}

// tracedConn forwards every optional interface database/sql uses, so the
// wrapper changes nothing but the spans.
type tracedConn struct {
	driver.Conn
	tr trace.Tracer
}

func (c *tracedConn) span(ctx context.Context, query string) (context.Context, trace.Span) {
	op := firstWord(query)
	return c.tr.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "sqlite"),
			attribute.String("db.operation.name", op)))
}

func end(span trace.Span, err error) {
	if err != nil && err != driver.ErrSkip {
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

func (c *tracedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.span(ctx, q)
	r, err := e.ExecContext(ctx, q, args)
	end(span, err)
	return r, err
}

func (c *tracedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.span(ctx, q)
	r, err := qc.QueryContext(ctx, q, args)
	end(span, err)
	return r, err
}

func (c *tracedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, q)
	}
	return c.Conn.Prepare(q)
}

func (c *tracedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() // fallback for drivers without BeginTx
}

func (c *tracedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *tracedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *tracedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

var (
	_ driver.ExecerContext      = (*tracedConn)(nil)
	_ driver.QueryerContext     = (*tracedConn)(nil)
	_ driver.ConnPrepareContext = (*tracedConn)(nil)
	_ driver.ConnBeginTx        = (*tracedConn)(nil)
	_ driver.Pinger             = (*tracedConn)(nil)
	_ driver.SessionResetter    = (*tracedConn)(nil)
	_ driver.Validator          = (*tracedConn)(nil)
)
