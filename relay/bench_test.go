package relay_test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/relay"
	"github.com/devmesh/devmesh/store/storetest"
)

// BenchmarkRelayOverhead measures what the relay adds to a call of the
// same local upstream made directly, in the same run: p50 latency of a
// whole answer, p50 time to the first streamed event, and CPU time per
// request. The relay side includes the durable SQLite ledger (reserve
// and settle, synchronous commits) and the audit appends (to the
// in-memory test log). Both sides use the same plain HTTP client.
//
// The "memory" variants put the SQLite file on /dev/shm, where a
// synchronous commit costs no disk flush: the difference to the "disk"
// variants is the price of durability on this machine's disk.
func BenchmarkRelayOverhead(b *testing.B) {
	for _, stream := range []bool{false, true} {
		for _, dir := range []string{"disk", "memory"} {
			name := map[bool]string{false: "whole answer", true: "first token"}[stream] + "/" + dir
			b.Run(name, func(b *testing.B) { benchOverhead(b, stream, dir == "memory") })
		}
	}
}

func benchOverhead(b *testing.B, stream, shm bool) {
	up := newUpstream(b)
	models := []relay.Model{{ID: "gpt-test", Bound: relay.BoundTiktoken,
		Provider: relay.NewOpenAI(up.URL+"/v1", secret.New(providerKey), up.Client())}}
	dir := b.TempDir()
	if shm {
		if _, err := os.Stat("/dev/shm"); err != nil {
			b.Skip("no /dev/shm")
		}
		var err error
		if dir, err = os.MkdirTemp("/dev/shm", "devmesh-bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	db := storetest.MustOpen(b, filepath.Join(dir, "devmesh.db"))
	e := newEnv(b, db, models, withBudget(1<<50), withConfig(func(c *relay.Config) {
		c.RequestsPerMinute = 1 << 30
	}))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	streamField := map[bool]string{false: "", true: `"stream":true,`}[stream]
	body := `{"model":"gpt-test",` + streamField + `"max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Explain run-length encoding in one sentence."}]}`
	direct := func() time.Duration {
		return timeCall(b, hc, up.URL+"/v1/chat/completions", "Bearer "+providerKey, body, stream)
	}
	relayed := func() time.Duration {
		return timeCall(b, hc, e.URL+"/v1/chat/completions", "Bearer "+candidateToken, body, stream)
	}
	for range 20 { // warm up connections, the tokenizer and the database
		direct()
		relayed()
	}

	b.ResetTimer()
	dLat, dUser, dSys := measure(b.N, direct)
	rLat, rUser, rSys := measure(b.N, relayed)
	b.StopTimer()

	dp, rp := p50(dLat), p50(rLat)
	perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(float64(dp.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(rp.Microseconds()), "relay-p50-µs")
	b.ReportMetric(float64((rp - dp).Microseconds()), "added-p50-µs")
	b.ReportMetric(perReq(rUser-dUser), "added-user-cpu-µs/req")
	b.ReportMetric(perReq(rSys-dSys), "added-sys-cpu-µs/req")
	e.checkBooks(b)
}

// measure runs call n times and returns the latencies and the process
// CPU time spent in user space and in the kernel.
func measure(n int, call func() time.Duration) ([]time.Duration, time.Duration, time.Duration) {
	lat := make([]time.Duration, 0, n)
	u0, s0 := cpuTime()
	for range n {
		lat = append(lat, call())
	}
	u1, s1 := cpuTime()
	return lat, u1 - u0, s1 - s0
}

func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// timeCall posts body and returns the time to the first event of a
// stream (firstEvent) or to the end of the whole response, then drains
// the rest.
func timeCall(b *testing.B, hc *http.Client, url, auth, body string, firstEvent bool) time.Duration {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%s: %d %s", url, resp.StatusCode, msg)
	}
	var took time.Duration
	if firstEvent {
		br := bufio.NewReader(resp.Body)
		if _, err := br.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		took = time.Since(start)
		io.Copy(io.Discard, br)
		return took
	}
	io.Copy(io.Discard, resp.Body)
	return time.Since(start)
}
