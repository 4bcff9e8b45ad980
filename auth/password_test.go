package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := NewHasher(testParams)
	enc, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("encoded hash %q lacks the argon2id prefix and parameters", enc)
	}
	other, _ := h.Hash("s3cret")
	if other == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"the right password", "s3cret", true},
		{"a wrong password", "s3creT", false},
		{"a prefix", "s3cre", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(enc, tt.password)
			if err != nil || ok != tt.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

func TestDefaultParamsHash(t *testing.T) {
	enc, err := HashPassword("pw")
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("HashPassword = %q, %v", enc, err)
	}
	if ok, err := VerifyPassword(enc, "pw"); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
}

func TestOverlongPasswords(t *testing.T) {
	h := NewHasher(testParams)
	long := strings.Repeat("a", maxPassword)
	enc, err := h.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(enc, long+"tail"); ok {
		t.Error("a password longer than the limit matched its truncation")
	}
	if _, err := h.Hash(long + "a"); err == nil {
		t.Error("hashed a password over the limit")
	}
}

func TestHostileHashes(t *testing.T) {
	good, _ := NewHasher(testParams).Hash("pw")
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"another algorithm":   "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"another version":     "$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"4 TiB of memory":     "$argon2id$v=19$m=4294967295,t=1,p=1$" + parts[4] + "$" + parts[5],
		"a million passes":    "$argon2id$v=19$m=64,t=1000000,p=1$" + parts[4] + "$" + parts[5],
		"255 threads":         "$argon2id$v=19$m=4096,t=1,p=255$" + parts[4] + "$" + parts[5],
		"zero passes":         "$argon2id$v=19$m=64,t=0,p=1$" + parts[4] + "$" + parts[5],
		"reordered params":    "$argon2id$v=19$t=1,m=64,p=1$" + parts[4] + "$" + parts[5],
		"leading zero":        "$argon2id$v=19$m=064,t=1,p=1$" + parts[4] + "$" + parts[5],
		"empty salt":          "$argon2id$v=19$m=64,t=1,p=1$$" + parts[5],
		"a one-byte hash":     "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$AA",
		"plain text":          "pw",
		"extra field":         good + "$x",
		"padding in the salt": "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "==$" + parts[5],
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			if ok, err := VerifyPassword(enc, "pw"); err == nil || ok {
				t.Fatalf("Verify = %v, %v; want an error", ok, err)
			}
		})
	}
}

func FuzzDecodeHash(f *testing.F) {
	good, _ := NewHasher(testParams).Hash("pw")
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, enc string) {
		p, salt, key, err := decodeHash(enc)
		if err != nil {
			return
		}
		if p.Memory > maxMemory || p.Time > maxTime || p.Threads > maxThreads || p.Threads == 0 {
			t.Fatalf("accepted out-of-bounds parameters %+v", p)
		}
		// Round trip: what decodes re-encodes to the same text.
		if got := encodeHash(p, salt, key); got != enc {
			t.Fatalf("round trip: %q became %q", enc, got)
		}
	})
}
