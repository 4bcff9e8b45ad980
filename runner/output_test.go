package runner

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/devmesh/devmesh/sandbox"
)

func TestRecorderChunksAndCaps(t *testing.T) {
	rec := &recorder{run: "run_x", attempt: 1}
	rec.sink(sandbox.Stdout, []byte(strings.Repeat("a", ChunkBytes+10)))
	rec.sink(sandbox.Stderr, []byte{0xff, 0xfe})
	rec.sink(sandbox.Stdout, []byte(strings.Repeat("b", OutputCap)))
	entries, out, truncated, err := rec.take("sub_x")
	if err != nil {
		t.Fatal(err)
	}
	var chunks []TerminalOutput
	var offset int64
	for _, e := range entries {
		var c TerminalOutput
		if err := json.Unmarshal(e.Payload, &c); err != nil {
			t.Fatal(err)
		}
		n := len(c.Data) + len(c.DataBase64)
		if n == 0 || n > ChunkBytes || c.Offset != offset {
			t.Fatalf("chunk at %d of %d bytes, want offset %d and 1..%d bytes", c.Offset, n, offset, ChunkBytes)
		}
		offset += int64(n)
		chunks = append(chunks, c)
	}
	if want := int64(ChunkBytes + 12 + OutputCap); offset != want {
		t.Errorf("chunks cover %d bytes, want every byte (%d)", offset, want)
	}
	if c := chunks[2]; c.Stream != sandbox.Stderr || !bytes.Equal(c.DataBase64, []byte{0xff, 0xfe}) || c.Data != "" {
		t.Errorf("non-UTF-8 chunk %+v, want stderr bytes in data_base64", c)
	}
	if len(out) != OutputCap || !truncated {
		t.Errorf("row output %d bytes, truncated %v; want %d and true", len(out), truncated, OutputCap)
	}
	if e, _, _, _ := rec.take("sub_x"); len(e) != 0 {
		t.Errorf("second take returned %d entries, want none", len(e))
	}
}

func FuzzCompleteRunes(f *testing.F) {
	for _, s := range []string{"abc", "héllo", "日本", "😀", "\xff", "a\xe6\x97", "\xf0\x9f\x98"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := completeRunes(b)
		if !bytes.HasPrefix(b, got) || len(b)-len(got) > 3 {
			t.Fatalf("completeRunes(%q) = %q, want a prefix at most 3 bytes shorter", b, got)
		}
		if len(got) < len(b) && utf8.FullRune(b[len(got):]) {
			t.Fatalf("completeRunes(%q) dropped the complete sequence %q", b, b[len(got):])
		}
		if utf8.Valid(b) && !bytes.Equal(got, b) {
			t.Fatalf("completeRunes(%q) = %q, cut valid UTF-8", b, got)
		}
	})
}
