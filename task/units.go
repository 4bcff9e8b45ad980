package task

import (
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

// Duration is a time span written in Go syntax ("90s", "1h30m") or as a
// bare number of seconds.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := sandbox.ParseDuration("duration", string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// String returns the Go syntax of d.
func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a size in bytes written as a number with an optional unit:
// "512MiB", "512M" and "536870912" are the same (single letters and
// *iB are binary; KB, MB, GB are decimal).
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := sandbox.ParseBytes("size", string(b))
	if err != nil {
		return err
	}
	*s = ByteSize(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s ByteSize) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// String renders s with the largest binary unit that divides it.
func (s ByteSize) String() string { return sandbox.FormatBytes(int64(s)) }
