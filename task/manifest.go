package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/devmesh/devmesh/sandbox"
)

// ManifestFile is the name of the manifest at the root of every bundle.
const ManifestFile = "devmesh-task.yaml"

// FormatVersion is the only manifest format this package reads.
const FormatVersion = 1

// Manifest is the content of devmesh-task.yaml. Fields left out of the
// file keep the values of DefaultManifest. The package documentation
// describes every field and its allowed range.
type Manifest struct {
	Format          int         `yaml:"format"`
	Name            string      `yaml:"name"`
	Version         string      `yaml:"version"`
	Runtime         string      `yaml:"runtime"`
	Prompt          string      `yaml:"prompt"`
	Starter         string      `yaml:"starter"`
	Tests           Tests       `yaml:"tests"`
	Commands        Commands    `yaml:"commands"`
	Limits          Limits      `yaml:"limits"`
	AI              AI          `yaml:"ai"`
	Rubric          []Criterion `yaml:"rubric"`
	SessionDuration Duration    `yaml:"session_duration"`
}

// Tests names the directories of test files. Each directory's contents
// are laid over the workspace root: visible ones in the candidate's
// starting workspace, hidden ones only for evaluation.
type Tests struct {
	Visible string `yaml:"visible"`
	Hidden  string `yaml:"hidden"`
}

// Commands are argument vectors run without a shell in the workspace
// root: Run for the candidate's "Run" button, Test for the tests.
type Commands struct {
	Run  []string `yaml:"run"`
	Test []string `yaml:"test"`
}

// Limits bound each run of the task's commands in the sandbox.
type Limits struct {
	WallTime  Duration `yaml:"wall_time"`
	CPUTime   Duration `yaml:"cpu_time"`
	Memory    ByteSize `yaml:"memory"`
	Processes int      `yaml:"processes"`
	Output    ByteSize `yaml:"output"`
	Disk      ByteSize `yaml:"disk"`
}

// AI is the candidate's AI assistant allowance for one submission.
type AI struct {
	TokenBudget int64    `yaml:"token_budget"`
	Models      []string `yaml:"models"`
}

// Criterion is one rubric line. Weights are relative: a criterion's share
// of the score is its weight over the sum of all weights.
type Criterion struct {
	ID          string `yaml:"id"`
	Description string `yaml:"description"`
	Weight      int    `yaml:"weight"`
}

// DefaultManifest returns the defaults of every optional field.
func DefaultManifest() Manifest {
	d := sandbox.DefaultLimits()
	return Manifest{
		Limits: Limits{
			WallTime:  Duration(d.WallTime),
			CPUTime:   Duration(d.CPUTime),
			Memory:    ByteSize(d.MemoryBytes),
			Processes: d.Processes,
			Output:    ByteSize(d.OutputBytes),
			Disk:      ByteSize(d.DiskBytes),
		},
		AI:              AI{TokenBudget: 0},
		SessionDuration: Duration(90 * time.Minute),
	}
}

// MaxManifestBytes is the largest devmesh-task.yaml accepted.
const MaxManifestBytes = 64 << 10

// DecodeManifest parses devmesh-task.yaml strictly: unknown fields,
// duplicate keys, wrong types and a second YAML document are errors.
// Absent fields keep their defaults. It does not validate values; see
// Bundle.Validate.
func DecodeManifest(data []byte) (Manifest, error) {
	m := DefaultManifest()
	if len(data) > MaxManifestBytes {
		return m, fmt.Errorf("is %d bytes, over the limit of %d",
			len(data), MaxManifestBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict())
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return m, errors.New("is empty")
		}
		return m, errors.New(yaml.FormatError(err, false, false))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return m, errors.New("holds more than one YAML document")
	}
	return m, nil
}

// SandboxLimits returns the manifest's limits as the sandbox takes them,
// with the sandbox's defaults for what a task does not set.
func (m *Manifest) SandboxLimits() sandbox.Limits {
	l := sandbox.DefaultLimits()
	l.WallTime = time.Duration(m.Limits.WallTime)
	l.CPUTime = time.Duration(m.Limits.CPUTime)
	l.MemoryBytes = int64(m.Limits.Memory)
	l.Processes = m.Limits.Processes
	l.OutputBytes = int64(m.Limits.Output)
	l.DiskBytes = int64(m.Limits.Disk)
	return l
}
