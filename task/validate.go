package task

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// Problem is one reason a bundle is invalid. Field is a manifest field
// path such as "limits.memory" or "rubric[1].weight", or a file name.
type Problem struct {
	Field string
	Msg   string
}

// String renders the problem as "field: message".
func (p Problem) String() string { return p.Field + ": " + p.Msg }

// ValidationError lists every problem found in a bundle. Its chain holds
// an errs.Invalid error whose client message is the whole list: the
// recruiter who uploaded the bundle needs all of it.
type ValidationError struct {
	Problems []Problem
}

// Error lists every problem, separated by semicolons.
func (e *ValidationError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return "invalid task bundle: " + strings.Join(s, "; ")
}

// Unwrap exposes the error's kind, errs.Invalid.
func (e *ValidationError) Unwrap() error {
	return errs.E(errs.Invalid, "%s", e.Error())
}

// Runtimes are the accepted values of runtime. Each names a profile in
// sandbox.Runtimes.
var Runtimes = []string{"go", "node", "python"}

// Allowed ranges. Defaults are in DefaultManifest.
const (
	MinTime         = time.Second
	MaxTime         = 10 * time.Minute
	MinMemory       = 32 * sandbox.MiB
	MaxMemory       = 4 * sandbox.GiB
	MinProcesses    = 1
	MaxProcesses    = 1024
	MinOutput       = sandbox.KiB
	MaxOutput       = 64 * sandbox.MiB
	MinDisk         = sandbox.MiB
	MaxDisk         = 4 * sandbox.GiB
	MaxTokenBudget  = 10_000_000
	MaxModels       = 32
	MaxCriteria     = 32
	MaxWeight       = 100
	MinSession      = 5 * time.Minute
	MaxSession      = 8 * time.Hour
	MaxPromptBytes  = 256 << 10
	MaxCommandArgs  = 64
	MaxArgBytes     = 4096
	MaxDescription  = 2000
	maxNameBytes    = 64
	maxModelIDBytes = 128
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$`)
	modelRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
)

// validator collects problems.
type validator struct {
	files    *workspace.Tree
	start    *workspace.Tree // the starting workspace, once built
	problems []Problem
}

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{field, fmt.Sprintf(format, args...)})
}

// Validate checks the manifest against its rules and the bundle's files,
// and reports every problem at once as a *ValidationError.
func (b *Bundle) Validate() error {
	v := &validator{files: b.files}
	m := &b.Manifest
	v.identity(m)
	v.paths(m)
	v.commands(m)
	v.limits(m)
	v.ai(m)
	v.rubric(m)
	if d := time.Duration(m.SessionDuration); d < MinSession || d > MaxSession {
		v.add("session_duration", "%v is out of range [%v, %v]",
			d, MinSession, MaxSession)
	}
	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	b.starter = v.start
	return nil
}

func (v *validator) identity(m *Manifest) {
	if m.Format != FormatVersion {
		v.add("format", "is %d, want %d", m.Format, FormatVersion)
	}
	if m.Name == "" {
		v.add("name", "is missing")
	} else if len(m.Name) > maxNameBytes || !nameRE.MatchString(m.Name) {
		v.add("name", "%q is not lowercase letters, digits and inner "+
			"hyphens of at most %d bytes", m.Name, maxNameBytes)
	}
	if m.Version == "" {
		v.add("version", "is missing")
	} else if !versionRE.MatchString(m.Version) {
		v.add("version", "%q is not MAJOR.MINOR.PATCH", m.Version)
	}
	if m.Runtime == "" {
		v.add("runtime", "is missing")
	} else if !slices.Contains(Runtimes, m.Runtime) {
		v.add("runtime", "unknown runtime %q (want one of %s)",
			m.Runtime, strings.Join(Runtimes, ", "))
	}
}

func (v *validator) commands(m *Manifest) {
	v.argv("commands.run", m.Commands.Run)
	v.argv("commands.test", m.Commands.Test)
}

func (v *validator) argv(field string, args []string) {
	switch {
	case len(args) == 0:
		v.add(field, "is missing")
	case len(args) > MaxCommandArgs:
		v.add(field, "has %d arguments, over the limit of %d",
			len(args), MaxCommandArgs)
	}
	for i, a := range args {
		switch {
		case a == "":
			v.add(fmt.Sprintf("%s[%d]", field, i), "is empty")
		case len(a) > MaxArgBytes || strings.ContainsRune(a, 0) ||
			!utf8.ValidString(a):
			v.add(fmt.Sprintf("%s[%d]", field, i),
				"must be UTF-8 without NUL, at most %d bytes", MaxArgBytes)
		}
	}
}

func (v *validator) limits(m *Manifest) {
	l := m.Limits
	v.timeRange("limits.wall_time", l.WallTime, MinTime, MaxTime)
	v.timeRange("limits.cpu_time", l.CPUTime, MinTime, MaxTime)
	v.sizeRange("limits.memory", l.Memory, MinMemory, MaxMemory)
	if l.Processes < MinProcesses || l.Processes > MaxProcesses {
		v.add("limits.processes", "%d is out of range [%d, %d]",
			l.Processes, MinProcesses, MaxProcesses)
	}
	v.sizeRange("limits.output", l.Output, MinOutput, MaxOutput)
	v.sizeRange("limits.disk", l.Disk, MinDisk, MaxDisk)
}

func (v *validator) timeRange(field string, d Duration, lo, hi time.Duration) {
	if t := time.Duration(d); t < lo || t > hi {
		v.add(field, "%v is out of range [%v, %v]", t, lo, hi)
	}
}

func (v *validator) sizeRange(field string, s ByteSize, lo, hi int64) {
	if int64(s) < lo || int64(s) > hi {
		v.add(field, "%v is out of range [%v, %v]",
			s, ByteSize(lo), ByteSize(hi))
	}
}

func (v *validator) ai(m *Manifest) {
	a := m.AI
	if a.TokenBudget < 0 || a.TokenBudget > MaxTokenBudget {
		v.add("ai.token_budget", "%d is out of range [0, %d]",
			a.TokenBudget, MaxTokenBudget)
	}
	if a.TokenBudget > 0 && len(a.Models) == 0 {
		v.add("ai.models", "is empty but ai.token_budget is %d: "+
			"name the models the candidate may use", a.TokenBudget)
	}
	if len(a.Models) > MaxModels {
		v.add("ai.models", "has %d models, over the limit of %d",
			len(a.Models), MaxModels)
	}
	seen := map[string]bool{}
	for i, id := range a.Models {
		field := fmt.Sprintf("ai.models[%d]", i)
		switch {
		case len(id) > maxModelIDBytes || !modelRE.MatchString(id):
			v.add(field, "%q is not a model id", id)
		case seen[id]:
			v.add(field, "%q is listed twice", id)
		}
		seen[id] = true
	}
}

func (v *validator) rubric(m *Manifest) {
	switch {
	case len(m.Rubric) == 0:
		v.add("rubric", "is empty: give at least one criterion")
	case len(m.Rubric) > MaxCriteria:
		v.add("rubric", "has %d criteria, over the limit of %d",
			len(m.Rubric), MaxCriteria)
	}
	seen := map[string]bool{}
	for i, c := range m.Rubric {
		field := fmt.Sprintf("rubric[%d]", i)
		switch {
		case c.ID == "":
			v.add(field+".id", "is missing")
		case len(c.ID) > maxNameBytes || !nameRE.MatchString(c.ID):
			v.add(field+".id", "%q is not lowercase letters, digits and "+
				"inner hyphens", c.ID)
		case seen[c.ID]:
			v.add(field+".id", "%q is used twice", c.ID)
		}
		seen[c.ID] = true
		if c.Description == "" || len(c.Description) > MaxDescription {
			v.add(field+".description", "must have 1 to %d bytes",
				MaxDescription)
		}
		if c.Weight < 1 || c.Weight > MaxWeight {
			v.add(field+".weight", "%d is out of range [1, %d]",
				c.Weight, MaxWeight)
		}
	}
}
