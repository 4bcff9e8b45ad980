package audit

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a payload, so a hostile body of a
// million '[' cannot exhaust the stack of the canonicalizer.
const maxDepth = 64

// Canonical returns the canonical form of one JSON value: object members
// sorted by the bytes of their names, no insignificant whitespace, numbers
// exactly as written, strings re-encoded by the rules in docs/audit.md.
// Duplicate member names, invalid UTF-8, trailing data and nesting deeper
// than 64 levels are errors. Canonical(Canonical(x)) == Canonical(x).
func Canonical(data []byte) ([]byte, error) {
	p := &parser{in: data}
	p.skipSpace()
	out, err := p.value(nil, 0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errorf("unexpected data after the value")
	}
	return out, nil
}

type parser struct {
	in  []byte
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at p.pos to out.
func (p *parser) value(out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d levels", maxDepth)
	}
	if p.pos >= len(p.in) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(out, s), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number(out)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
			p.pos += len(lit)
			return append(out, lit...), nil
		}
	}
	return nil, p.errorf("unexpected character %q", p.in[p.pos])
}

type member struct {
	name  string
	value []byte
}

func (p *parser) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // '{'
	var members []member
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return nil, p.errorf("want a member name")
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		p.skipSpace()
		v, err := p.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		members = append(members, member{name, v})
		done, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	return appendMembers(out, members)
}

func appendMembers(out []byte, members []member) ([]byte, error) {
	sort.SliceStable(members, func(i, j int) bool { return members[i].name < members[j].name })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if m.name == members[i-1].name {
				return nil, fmt.Errorf("invalid JSON: duplicate member %q", m.name)
			}
			out = append(out, ',')
		}
		out = appendString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (p *parser) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // '['
	out = append(out, '[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		p.skipSpace()
		var err error
		if out, err = p.value(out, depth+1); err != nil {
			return nil, err
		}
		done, err := p.next(']')
		if err != nil {
			return nil, err
		}
		if done {
			return append(out, ']'), nil
		}
	}
}

// next consumes a ',' (false) or the closing byte (true).
func (p *parser) next(closing byte) (bool, error) {
	p.skipSpace()
	if p.pos >= len(p.in) {
		return false, p.errorf("unexpected end")
	}
	switch p.in[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case closing:
		p.pos++
		return true, nil
	}
	return false, p.errorf("want ',' or %q", closing)
}

func (p *parser) expect(c byte) error {
	p.skipSpace()
	if p.pos >= len(p.in) || p.in[p.pos] != c {
		return p.errorf("want %q", c)
	}
	p.pos++
	return nil
}

// number checks the JSON number grammar and copies the number as written.
func (p *parser) number(out []byte) ([]byte, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch {
	case p.peek() == '0':
		p.pos++
	case p.peek() >= '1' && p.peek() <= '9':
		p.digits()
	default:
		return nil, p.errorf("invalid number")
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	return append(out, p.in[start:p.pos]...), nil
}

func (p *parser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

func (p *parser) digits() int {
	n := 0
	for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// str decodes the string at p.pos, rejecting invalid UTF-8, raw control
// characters and unpaired surrogate escapes.
func (p *parser) str() (string, error) {
	p.pos++ // '"'
	var b []byte
	for {
		if p.pos >= len(p.in) {
			return "", p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c == '\\':
			var err error
			if b, err = p.escape(b); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", p.errorf("invalid UTF-8 in string")
			}
			b = append(b, p.in[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
}

var shortEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (p *parser) escape(b []byte) ([]byte, error) {
	if p.pos+1 >= len(p.in) {
		return nil, p.errorf("unterminated escape")
	}
	if c, ok := shortEscapes[p.in[p.pos+1]]; ok {
		p.pos += 2
		return append(b, c), nil
	}
	if p.in[p.pos+1] != 'u' {
		return nil, p.errorf("invalid escape")
	}
	r, err := p.hex4()
	if err != nil {
		return nil, err
	}
	if utf16.IsSurrogate(r) {
		r2, err := p.hex4()
		if err != nil {
			return nil, p.errorf("unpaired surrogate")
		}
		if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
			return nil, p.errorf("unpaired surrogate")
		}
	}
	return utf8.AppendRune(b, r), nil
}

// hex4 reads one \uXXXX escape at p.pos.
func (p *parser) hex4() (rune, error) {
	if p.pos+6 > len(p.in) || p.in[p.pos] != '\\' || p.in[p.pos+1] != 'u' {
		return 0, p.errorf("invalid escape")
	}
	v, err := strconv.ParseUint(string(p.in[p.pos+2:p.pos+6]), 16, 32)
	if err != nil {
		return 0, p.errorf("invalid escape")
	}
	p.pos += 6
	return rune(v), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a canonical JSON string: '"' and '\' escaped
// with a backslash; \b \f \n \r \t in their short form; other bytes below
// 0x20 as \u00xx with lowercase hex; everything else as its UTF-8 bytes.
// s must be valid UTF-8.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			} else {
				out = append(out, c)
			}
		}
	}
	return append(out, '"')
}
