package sandbox

import (
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/errs"
)

func TestJobValidate(t *testing.T) {
	ok := Job{ID: "run-1", Runtime: "python", Command: []string{"python3", "x.py"}, Limits: DefaultLimits()}
	tests := []struct {
		name string
		edit func(*Job)
		want string
	}{
		{"valid job passes", func(*Job) {}, ""},
		{"id with a slash is refused", func(j *Job) { j.ID = "../x" }, `invalid job id "../x"`},
		{"empty id is refused", func(j *Job) { j.ID = "" }, `invalid job id ""`},
		{"unknown runtime is refused", func(j *Job) { j.Runtime = "ruby" }, `unknown runtime "ruby"`},
		{"empty command is refused", func(j *Job) { j.Command = nil }, "invalid command: empty"},
		{"NUL in argument is refused", func(j *Job) { j.Command = []string{"a\x00b"} }, "contains NUL"},
		{"bad limits are refused", func(j *Job) { j.Limits.Processes = 0 }, "process limit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := ok
			tt.edit(&j)
			err := j.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, want invalid error containing %q", err, tt.want)
			}
		})
	}
}
