package blob

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// The encrypted object format, version 1. Stored: never change these;
// a new format gets a new magic and a new key prefix.
//
//	header  = magic (4) || salt (28)
//	segment = AES-256-GCM(plaintext of segmentSize bytes, the last one
//	          shorter and possibly empty) || tag (16)
//
// The object key and nonce prefix come from HKDF-SHA256 over the scope's
// data key with the random salt, so every object has its own key and a
// nonce never repeats under a key. The nonce of segment i is
// prefix (8) || i (4, big endian). The additional data binds the scope,
// the digest and a last-segment flag, so a segment cannot be moved to
// another object, reordered, dropped from the end or followed by more.
const (
	segmentSize = 64 << 10
	tagSize     = 16
	saltSize    = 28
	headerSize  = len(formatMagic) + saltSize
	noncePrefix = 8
)

const formatMagic = "DMB\x01"

// hkdfInfo labels the key derivation; stored format, never change it.
const hkdfInfo = "devmesh blob v1 segment key"

// bufSize fits every buffer of a sealer or opener: one sealed segment
// plus a look-ahead byte.
const bufSize = segmentSize + tagSize + 1

// bufPool recycles segment buffers; without it, small objects spend
// most of their time allocating and collecting 64 KiB buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBufs returns buffers to the pool. The caller must hold no slice
// of them any more.
func putBufs(bufs ...*[]byte) {
	for _, b := range bufs {
		if b != nil {
			bufPool.Put(b)
		}
	}
}

// segmentAEAD seals or opens the segments of one object.
type segmentAEAD struct {
	aead   cipher.AEAD
	prefix [noncePrefix]byte
	ad     []byte // scope and digest binding; the flag byte is appended
	nonce  [12]byte
}

func newSegmentAEAD(dataKey, salt []byte, scope string, d Digest) (*segmentAEAD, error) {
	km, err := hkdf.Key(sha256.New, dataKey, salt, hkdfInfo, 32+noncePrefix)
	if err != nil {
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	block, err := aes.NewCipher(km[:32])
	if err != nil {
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	s := &segmentAEAD{aead: aead}
	copy(s.prefix[:], km[32:])
	s.ad = []byte("devmesh blob v1\x00" + scope + "\x00" + string(d) + "\x00?")
	return s, nil
}

func (s *segmentAEAD) params(i uint64, last bool) ([]byte, []byte) {
	copy(s.nonce[:], s.prefix[:])
	binary.BigEndian.PutUint32(s.nonce[noncePrefix:], uint32(i))
	s.ad[len(s.ad)-1] = 0
	if last {
		s.ad[len(s.ad)-1] = 1
	}
	return s.nonce[:], s.ad
}

func (s *segmentAEAD) seal(dst, plain []byte, i uint64, last bool) []byte {
	nonce, ad := s.params(i, last)
	return s.aead.Seal(dst, nonce, plain, ad)
}

func (s *segmentAEAD) open(dst, sealed []byte, i uint64, last bool) ([]byte, error) {
	nonce, ad := s.params(i, last)
	return s.aead.Open(dst, nonce, sealed, ad)
}

// errTooManySegments guards the 32-bit segment counter (256 TiB).
var errTooManySegments = errors.New("object too large for one encrypted stream")

// sealer turns a plaintext stream into the encrypted format. Errors of
// the plaintext reader (such as a digest mismatch at its end) pass
// through before the last segment is produced, so a writer that stops on
// error never stores a complete-looking object.
type sealer struct {
	src  io.Reader
	seg  *segmentAEAD
	in   []byte // plaintext of the next segment, plus one look-ahead byte
	have int    // bytes in in
	out  []byte // pending ciphertext, a tail of obuf
	obuf []byte
	bufs [2]*[]byte // pooled backing of in and obuf; nil once returned
	i    uint64
	done bool
}

func newSealer(src io.Reader, seg *segmentAEAD, salt []byte) *sealer {
	s := &sealer{src: src, seg: seg, bufs: [2]*[]byte{getBuf(), getBuf()}}
	s.in = (*s.bufs[0])[:segmentSize+1]
	s.obuf = (*s.bufs[1])[:0]
	s.out = append([]byte(formatMagic), salt...)
	return s
}

func (s *sealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.done {
			s.release()
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *sealer) release() {
	putBufs(s.bufs[:]...)
	s.bufs = [2]*[]byte{}
	s.in, s.obuf = nil, nil
}

// next seals one segment into out. A segment is the last one when the
// look-ahead byte cannot be filled.
func (s *sealer) next() error {
	n, err := io.ReadFull(s.src, s.in[s.have:])
	s.have += n
	last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !last {
		return err
	}
	if s.i > math.MaxUint32 {
		return errTooManySegments
	}
	body := s.have
	if !last {
		body = segmentSize
	}
	s.out = s.seg.seal(s.obuf[:0], s.in[:body], s.i, last)
	s.i++
	if last {
		s.done = true
		return nil
	}
	s.in[0] = s.in[segmentSize]
	s.have = 1
	return nil
}

// opener decrypts the encrypted format, releasing a segment only after
// it authenticated. A failure is reported as an integrity error naming
// the digest.
type opener struct {
	src   io.Reader
	seg   *segmentAEAD
	scope string
	d     Digest
	in    []byte // one sealed segment plus a look-ahead byte
	have  int
	out   []byte
	buf   []byte
	bufs  [2]*[]byte // pooled backing of in and buf; nil once returned
	i     uint64
	done  bool
	err   error
}

func newOpener(src io.Reader, dataKey []byte, scope string, d Digest) (*opener, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(src, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, integrityError(scope, d, "truncated header")
		}
		return nil, fmt.Errorf("read %s in scope %q: %w", d, scope, err)
	}
	if !bytes.Equal(hdr[:len(formatMagic)], []byte(formatMagic)) {
		return nil, integrityError(scope, d, "unknown object format")
	}
	seg, err := newSegmentAEAD(dataKey, hdr[len(formatMagic):], scope, d)
	if err != nil {
		return nil, err
	}
	o := &opener{src: src, seg: seg, scope: scope, d: d,
		bufs: [2]*[]byte{getBuf(), getBuf()}}
	o.in = (*o.bufs[0])[:bufSize]
	o.buf = (*o.bufs[1])[:0]
	return o, nil
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.out) == 0 {
		if o.err != nil {
			o.release()
			return 0, o.err
		}
		if o.done {
			o.release()
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.out)
	o.out = o.out[n:]
	return n, nil
}

func (o *opener) release() {
	putBufs(o.bufs[:]...)
	o.bufs = [2]*[]byte{}
	o.in, o.buf = nil, nil
}

func (o *opener) next() error {
	n, err := io.ReadFull(o.src, o.in[o.have:])
	o.have += n
	last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !last {
		return fmt.Errorf("read %s in scope %q: %w", o.d, o.scope, err)
	}
	body := o.have
	if !last {
		body = segmentSize + tagSize
	}
	if body < tagSize {
		return integrityError(o.scope, o.d, "truncated ciphertext")
	}
	if o.i > math.MaxUint32 {
		return integrityError(o.scope, o.d, errTooManySegments.Error())
	}
	plain, err := o.seg.open(o.buf[:0], o.in[:body], o.i, last)
	if err != nil {
		return integrityError(o.scope, o.d,
			fmt.Sprintf("segment %d failed authentication", o.i))
	}
	o.out = plain
	o.i++
	if last {
		o.done = true
		return nil
	}
	o.in[0] = o.in[segmentSize+tagSize]
	o.have = 1
	return nil
}

// sealedSize returns the stored size of an encrypted object with n
// plaintext bytes.
func sealedSize(n int64) int64 {
	segs := max(1, (n+segmentSize-1)/segmentSize)
	return int64(headerSize) + n + segs*tagSize
}

// plainSize inverts sealedSize. It returns -1 for a size no encrypted
// object can have.
func plainSize(stored int64) int64 {
	body := stored - int64(headerSize)
	if body < tagSize {
		return -1
	}
	segs := (body + segmentSize + tagSize - 1) / (segmentSize + tagSize)
	n := body - segs*tagSize
	if n < 0 || sealedSize(n) != stored {
		return -1
	}
	return n
}
