package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/devmesh/devmesh/internal/errs"
)

// PasswordHasher hashes passwords and checks them against stored hashes.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches the encoded hash. It does
	// the full hashing work whatever the outcome.
	Verify(encoded, password string) (bool, error)
}

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams follow the OWASP recommendation for argon2id: 19 MiB of
// memory, two passes, one lane.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds on parameters read from a stored hash, so a corrupted or hostile
// row cannot make one sign-in allocate gigabytes or spin for minutes.
const (
	maxMemory   = 1 << 20 // 1 GiB
	maxTime     = 16
	maxThreads  = 16
	saltLen     = 16
	keyLen      = 32
	maxSaltLen  = 64
	maxKeyLen   = 64
	maxPassword = 1024
)

// Hasher is the argon2id PasswordHasher. It is safe for concurrent use.
type Hasher struct{ p Params }

// NewHasher returns a hasher that hashes new passwords with p.
func NewHasher(p Params) *Hasher { return &Hasher{p: p} }

// HashPassword hashes password with DefaultParams into the encoded form
// $argon2id$v=19$m=MEM,t=TIME,p=THREADS$SALT$HASH.
func HashPassword(password string) (string, error) {
	return NewHasher(DefaultParams).Hash(password)
}

// VerifyPassword reports whether password matches the encoded hash.
func VerifyPassword(encoded, password string) (bool, error) {
	return NewHasher(DefaultParams).Verify(encoded, password)
}

// Hash implements PasswordHasher.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > maxPassword {
		return "", errs.E(errs.Invalid, "password is longer than %d bytes", maxPassword)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	return encodeHash(h.p, salt, key), nil
}

// Verify implements PasswordHasher. An over-long password is hashed with
// a truncation rather than refused early, so its timing matches.
func (h *Hasher) Verify(encoded, password string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	tooLong := len(password) > maxPassword
	if tooLong {
		password = password[:maxPassword]
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && !tooLong, nil
}

func encodeHash(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses an encoded argon2id hash, refusing parameters outside
// sane bounds.
func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	fail := func(why string) (Params, []byte, []byte, error) {
		// Never quote the hash itself: it is a secret derivative.
		return p, nil, nil, fmt.Errorf("invalid password hash: %s", why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return fail("not an argon2id hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	m, t, th, ok := parseParams(parts[3])
	if !ok {
		return fail("malformed parameters")
	}
	p = Params{Memory: m, Time: t, Threads: th}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return fail("malformed salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return fail("malformed hash")
	}
	return p, salt, key, nil
}

func parseParams(s string) (m, t uint32, p uint8, ok bool) {
	var mm, tt, pp uint64
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, false
	}
	for i, dst := range []*uint64{&mm, &tt, &pp} {
		name, val, found := strings.Cut(fields[i], "=")
		if !found || name != "mtp"[i:i+1] || val == "" || (len(val) > 1 && val[0] == '0') {
			return 0, 0, 0, false
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return 0, 0, 0, false
		}
		*dst = n
	}
	if mm < 8 || mm > maxMemory || tt < 1 || tt > maxTime || pp < 1 || pp > maxThreads ||
		mm < 8*pp {
		return 0, 0, 0, false
	}
	return uint32(mm), uint32(tt), uint8(pp), true
}
