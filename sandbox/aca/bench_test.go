package aca

import (
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/sandbox"
)

// BenchmarkRun measures the driver's own cost of one run through the
// real SDK against the fake ARM server over TLS: staging, template,
// start with its polling, four status reads, log read. Azure's own
// latency (seconds to start a replica) is not part of it.
func BenchmarkRun(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.PollInterval = time.Microsecond })
	h.logs.logs = Logs{Stdout: []byte("ok\n"), ExitCode: 0}
	for b.Loop() {
		if _, err := h.d.Run(b.Context(), testJob("bench")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTemplate measures building one execution template.
func BenchmarkTemplate(b *testing.B) {
	h := newHarness(b)
	j := testJob("bench")
	url := secret.New(sasURL("bench"))
	for b.Loop() {
		if _, err := h.d.template(j, sandbox.Runtimes[j.Runtime], url); err != nil {
			b.Fatal(err)
		}
	}
}
