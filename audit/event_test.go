package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkGolden compares got with testdata/name, rewriting it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func goldenEvents() []Event {
	server := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
	client := time.Date(2026, 3, 1, 9, 29, 59, 987000000, time.FixedZone("CET", 3600))
	return []Event{
		{Index: 0, SubmissionID: "sub_a", Seq: 1, Kind: KindSubmissionOpened,
			Actor: ActorSystem, ServerTime: server, Payload: json.RawMessage(`{}`)},
		{Index: 1, SubmissionID: "sub_a", Seq: 2, Kind: KindEditorOps,
			Actor: ActorCandidate, ServerTime: server, ClientTime: &client, ClientID: "c-1",
			Payload: json.RawMessage(`{"changes":[{"from":0,"insert":"print(\"héllo\")\n","to":0}],"file":"main.py"}`)},
		{Index: 2, SubmissionID: "sub_b", Seq: 1, Kind: KindTerminalInput,
			Actor: ActorCandidate, ServerTime: server.Add(time.Microsecond), ClientID: "t\t\"1\"",
			Payload: json.RawMessage(`{"data":"ls -la\r\u0007😀"}`)},
		{Index: 1 << 40, SubmissionID: "sub_c", Seq: 1 << 33, Kind: KindRunFinished,
			Actor: ActorRunner, ServerTime: server, Payload: json.RawMessage(`{"exit":-1,"ms":1.5e3,"ok":false,"out":null}`)},
	}
}

// TestEventEncodingGolden pins the canonical encoding and the leaf hash of
// a few events: changing either breaks every stored log.
func TestEventEncodingGolden(t *testing.T) {
	var out bytes.Buffer
	for _, e := range goldenEvents() {
		h := e.LeafHash()
		fmt.Fprintf(&out, "%s\n%s\n", e.Encode(), hex.EncodeToString(h[:]))
	}
	checkGolden(t, "events.golden", out.Bytes())
}

func TestDecodeEventRoundTrip(t *testing.T) {
	for _, e := range goldenEvents() {
		got, err := DecodeEvent(e.Encode())
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", e.Encode(), err)
		}
		if !bytes.Equal(got.Encode(), e.Encode()) || got.LeafHash() != e.LeafHash() {
			t.Errorf("round trip of event %d: got %s", e.Index, got.Encode())
		}
	}
}

func TestDecodeEventRejectsNonCanonical(t *testing.T) {
	e := goldenEvents()[1]
	enc := e.Encode()
	tests := []struct {
		name string
		in   []byte
	}{
		{"number written differently", bytes.Replace(enc, []byte(`"seq":2`), []byte(`"seq":2.0`), 1)},
		{"string for a number", bytes.Replace(enc, []byte(`"seq":2`), []byte(`"seq":"2"`), 1)},
		{"duplicate member", bytes.Replace(enc, []byte(`"seq":2`), []byte(`"seq":2,"seq":3`), 1)},
		{"local time", bytes.Replace(enc, []byte(`09:30:00.123456Z`), []byte(`10:30:00.123456+01:00`), 1)},
		{"unknown member", bytes.Replace(enc, []byte(`{"actor"`), []byte(`{"x":1,"actor"`), 1)},
		{"missing payload", bytes.Replace(enc, []byte(`,"payload":`), []byte(`,"p":`), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.in, enc) {
				t.Fatal("test input equals the canonical encoding")
			}
			if _, err := DecodeEvent(tt.in); err == nil {
				t.Errorf("DecodeEvent(%s) succeeded, want an error", tt.in)
			}
		})
	}
}

// TestDecodeEventUndoesTransport checks that whitespace, member order
// and escapes that JSON encoders add in transport do not change the
// decoded event or its leaf hash.
func TestDecodeEventUndoesTransport(t *testing.T) {
	e := goldenEvents()[1]
	e.Payload = json.RawMessage(`{"data":"<b>&</b>"}`)
	var indented bytes.Buffer
	if err := json.Indent(&indented, e.Encode(), "", "  "); err != nil {
		t.Fatal(err)
	}
	escaped, err := json.Marshal(map[string]any{"e": e})
	if err != nil {
		t.Fatal(err)
	}
	var wrapped struct{ E json.RawMessage }
	if err := json.Unmarshal(escaped, &wrapped); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"indented": indented.Bytes(), "HTML-escaped": wrapped.E} {
		got, err := DecodeEvent(in)
		if err != nil || got.LeafHash() != e.LeafHash() {
			t.Errorf("%s: DecodeEvent = %s, %v; want the original event", name, got.Encode(), err)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"sorts members by name bytes", `{"b":1,"a":{"d":[],"c":{}},"B":2}`, `{"B":2,"a":{"c":{},"d":[]},"b":1}`},
		{"drops whitespace", " [ 1 , true ,\n null, \"x\" ] ", `[1,true,null,"x"]`},
		{"keeps numbers as written", `[1.50,-0,1E+2,12e-3]`, `[1.50,-0,1E+2,12e-3]`},
		{"unescapes what need not be escaped", `"\u0041\/\u00e9\ud83d\ude00"`, `"A/é😀"`},
		{"uses short escapes", `"\u000a\u0009\u0022\u005c\u0008\u000c\u000d"`, `"\n\t\"\\\b\f\r"`},
		{"escapes other controls in lowercase hex", `"\u001F\u0000"`, `"\u001f\u0000"`},
		{"keeps line separators literal", `"\u2028"`, "\"\u2028\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical([]byte(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("Canonical(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCanonicalRejects(t *testing.T) {
	deep := bytes.Repeat([]byte("["), 100)
	tests := []struct{ name, in string }{
		{"duplicate member", `{"a":1,"a":2}`},
		{"duplicate member after unescaping", `{"a":1,"\u0061":2}`},
		{"invalid UTF-8", "\"\xff\""},
		{"unpaired surrogate", `"\ud800x"`},
		{"raw control character", "\"\x01\""},
		{"trailing data", `{} {}`},
		{"leading zero", `01`},
		{"bare dot", `1.`},
		{"trailing comma", `[1,]`},
		{"empty", ``},
		{"single quotes", `'a'`},
		{"too deep", string(deep)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Canonical([]byte(tt.in)); err == nil {
				t.Errorf("Canonical(%q) = %s, want an error", tt.in, got)
			}
		})
	}
}

// FuzzCanonical checks that the canonical form is valid JSON equal in
// meaning to the input, and a fixed point.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":[1,2.5e3,"x\u00e9"],"a":null}`, `"\ud83d\ude00"`,
		`[true,false,{}]`, `{"":{"":""}}`, `-0.0E-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Canonical(in)
		if err != nil {
			return
		}
		if !json.Valid(c) {
			t.Fatalf("Canonical(%q) = %q is not valid JSON", in, c)
		}
		again, err := Canonical(c)
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", c, again, err)
		}
		var a, b any
		if json.Unmarshal(in, &a) == nil && json.Unmarshal(c, &b) == nil {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("meaning changed: %q -> %q", in, c)
			}
		}
	})
}

// FuzzEventRoundTrip checks that every event whose payload is canonical
// survives encode and decode unchanged.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(int64(3), "sub_x", int64(1), "editor.ops", "candidate", int64(1e15), int64(-5), "c1", []byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, index int64, sub string, seq int64, kind, actor string,
		us, clientUS int64, cid string, payload []byte) {
		p, err := Canonical(payload)
		if err != nil || index < 0 || us < 0 || us > 253402300799e6 {
			return
		}
		e := Event{Index: index, SubmissionID: sub, Seq: seq, Kind: Kind(kind),
			Actor: Actor(actor), ServerTime: time.UnixMicro(us).UTC(), ClientID: cid, Payload: p}
		if clientUS > 0 && clientUS < 253402300799e6 {
			ct := time.UnixMicro(clientUS).UTC()
			e.ClientTime = &ct
		}
		enc := e.Encode()
		got, err := DecodeEvent(enc)
		if !validUTF8(sub, kind, actor, cid) {
			return
		}
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", enc, err)
		}
		if !bytes.Equal(got.Encode(), enc) {
			t.Fatalf("round trip changed %s to %s", enc, got.Encode())
		}
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if _, err := Canonical(appendString(nil, s)); err != nil {
			return false
		}
	}
	return true
}

func BenchmarkCanonical(b *testing.B) {
	in := []byte(`{"file":"src/main.py","changes":[{"from":120,"to":124,"insert":"return x + 1\n"}]}`)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Canonical(in); err != nil {
			b.Fatal(err)
		}
	}
}
