package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// pgTracer makes a span of every PostgreSQL query. Spans carry the
// statement's first keyword and never its arguments, which can hold
// candidate content or hashes of secrets.
type pgTracer struct{ tr trace.Tracer }

func newPGTracer() *pgTracer { return &pgTracer{tr: otel.Tracer("github.com/devmesh/devmesh/store")} }

func (t *pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	op := strings.ToUpper(firstWord(d.SQL))
	ctx, _ = t.tr.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "postgresql"),
			attribute.String("db.operation.name", op)))
	return ctx
}

func (t *pgTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if d.Err != nil {
		span.SetStatus(codes.Error, "query failed")
	}
	span.End()
}

func firstWord(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexAny(q, " \t\n("); i > 0 {
		return q[:i]
	}
	return q
}
