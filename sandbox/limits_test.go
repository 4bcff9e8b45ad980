package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

func TestParseBytesAcceptsHumanSizes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"256M", 256 * MiB},
		{"256m", 256 * MiB},
		{"1.5GiB", 3 * GiB / 2},
		{"64KB", 64000},
		{"4096", 4096},
		{" 2 G ", 2 * GiB},
		{"10MB", 10_000_000},
	}
	for _, tt := range tests {
		got, err := ParseBytes("memory", tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseBytesRejectsWithQuotedInput(t *testing.T) {
	tests := []struct{ in, want string }{
		{"12XB", `invalid memory limit "12XB": unknown unit`},
		{"M", `invalid memory limit "M": missing number`},
		{"", `invalid memory limit "": missing number`},
		{"1.2.3M", `invalid memory limit "1.2.3M": bad number`},
		{"99999999999T", `invalid memory limit "99999999999T": too large`},
		{"-5M", `invalid memory limit "-5M": missing number`},
	}
	for _, tt := range tests {
		_, err := ParseBytes("memory", tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseBytes(%q) error %v, want %q", tt.in, err, tt.want)
		}
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("ParseBytes(%q) error kind %v, want invalid", tt.in, errs.KindOf(err))
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "10s", want: 10 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "10", want: 10 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "ten", wantErr: `invalid time limit "ten": not a duration`},
		{in: "-3", wantErr: `invalid time limit "-3": out of range`},
	}
	for _, tt := range tests {
		got, err := ParseDuration("time", tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDuration(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestDefaultLimitsAreValid(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryLimitOutOfRange(t *testing.T) {
	l := DefaultLimits()
	l.MemoryBytes = 1 * MiB
	l.WallTime = 0
	l.Processes = 0
	l.OpenFiles = 1 << 20
	err := l.Validate()
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("error %v, want kind invalid", err)
	}
	for _, want := range []string{"memory limit 1M", "wall time limit 0s", "process limit 0", "open files limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFormatBytesRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, KiB, 3 * MiB, 5 * GiB, 1 << 40, 1500} {
		got, err := ParseBytes("disk", FormatBytes(n))
		if err != nil || got != n {
			t.Errorf("ParseBytes(FormatBytes(%d)=%q) = %d, %v", n, FormatBytes(n), got, err)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"256M", "1.5GiB", "12XB", "", "9e9", "0.0001K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes("memory", s)
		if err != nil {
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "invalid memory limit") {
				t.Fatalf("error %v lacks kind or prefix", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, n)
		}
		if back, err := ParseBytes("memory", FormatBytes(n)); err != nil || back != n {
			t.Fatalf("round trip of %d via %q gave %d, %v", n, FormatBytes(n), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10s", "10", "1h2m", "-1", "1e300", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration("time", s)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error %v, want kind invalid", err)
			}
			return
		}
		_ = d
	})
}
