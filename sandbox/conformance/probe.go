package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

// probeLimits are generous: the escape probes must end on their own.
func probeLimits() sandbox.Limits {
	l := sandbox.DefaultLimits()
	l.WallTime = 30 * time.Second
	return l
}

// runPython runs a Python program in d and fails the test if the driver
// returned an error or the sandbox broke.
func runPython(t *testing.T, d sandbox.Driver, name, script string, args ...string) sandbox.Result {
	t.Helper()
	job := sandbox.Job{
		ID: "conf-" + name, Runtime: "python", Limits: probeLimits(),
		Command: append([]string{"python3", "-c", script}, args...),
	}
	return mustRun(t, d, job)
}

func mustRun(t *testing.T, d sandbox.Driver, job sandbox.Job) sandbox.Result {
	t.Helper()
	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatalf("run %s: %v", job.ID, err)
	}
	if res.Outcome == sandbox.SandboxError {
		t.Fatalf("run %s: sandbox error: %s\nstderr: %s", job.ID, res.Detail, res.Stderr)
	}
	return res
}

// lastLine is the probe's verdict line: the last line of stdout.
func lastLine(res sandbox.Result) string {
	s := strings.TrimSpace(string(res.Stdout))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func randomToken(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// listener counts the connections a host listener accepts.
type listener struct {
	ln      net.Listener
	accepts atomic.Int64
}

func listen(t *testing.T, network, addr string) *listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("host cannot listen on %s %s: %v", network, addr, err)
	}
	l := &listener{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepts.Add(1)
			c.Close()
		}
	}()
	return l
}

// packets counts the UDP datagrams a host socket receives.
type packets struct {
	pc net.PacketConn
	n  atomic.Int64
}

func listenUDP(t *testing.T, addr string) *packets {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("host cannot listen on udp %s: %v", addr, err)
	}
	p := &packets{pc: pc}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			p.n.Add(1)
		}
	}()
	return p
}

// hostAddress returns a non-loopback IPv4 address of this host, or "".
func hostAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() && !ip.IP.IsLinkLocalUnicast() {
			return ip.IP.String()
		}
	}
	return ""
}

// settle waits briefly for in-flight host accepts to be counted.
func settle() { time.Sleep(50 * time.Millisecond) }

func fmtSscan(s string, a ...any) (int, error) { return fmt.Sscan(s, a...) }
