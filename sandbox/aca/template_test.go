package aca

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/sandbox"
)

func TestResourcesPickSmallestConsumptionSize(t *testing.T) {
	tests := []struct {
		name    string
		memory  int64
		wantCPU float64
		wantMem string
	}{
		{"tiny limit gets the smallest size", 16 * sandbox.MiB, 0.25, "0.5Gi"},
		{"exact half gibibyte", 512 * sandbox.MiB, 0.25, "0.5Gi"},
		{"one byte over rounds up", 512*sandbox.MiB + 1, 0.5, "1Gi"},
		{"one and a half", 1536 * sandbox.MiB, 0.75, "1.5Gi"},
		{"largest size", 8 * sandbox.GiB, 4, "8Gi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, mem, err := resources(tt.memory)
			if err != nil || cpu != tt.wantCPU || mem != tt.wantMem {
				t.Errorf("got %v %q %v, want %v %q", cpu, mem, err, tt.wantCPU, tt.wantMem)
			}
		})
	}
}

func TestResourcesRefuseOverLargestSize(t *testing.T) {
	if _, _, err := resources(8*sandbox.GiB + 1); err == nil {
		t.Errorf("got no error for more than 8Gi")
	}
}

// FuzzResources checks that every accepted limit gets a valid pair
// that holds it: memory is twice the CPU in GiB, in quarter-CPU steps.
func FuzzResources(f *testing.F) {
	for _, m := range []int64{0, 1, 512 << 20, 8 << 30, 8<<30 + 1, -5, math.MaxInt64, math.MinInt64} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, memory int64) {
		cpu, mem, err := resources(memory)
		if err != nil {
			if memory <= 8*sandbox.GiB {
				t.Fatalf("resources(%d): %v", memory, err)
			}
			return
		}
		gi, perr := strconv.ParseFloat(strings.TrimSuffix(mem, "Gi"), 64)
		if perr != nil || gi != 2*cpu || cpu < 0.25 || cpu > 4 || cpu*4 != float64(int(cpu*4)) {
			t.Fatalf("resources(%d) = %v %q: not a consumption size", memory, cpu, mem)
		}
		if float64(memory) > gi*float64(sandbox.GiB) {
			t.Fatalf("resources(%d) = %q: below the limit", memory, mem)
		}
	})
}

func TestEnvVarsKeepOrderAndLastValue(t *testing.T) {
	got, err := envVars([]string{"PATH=/bin", "A=1=2", "PATH=/usr/bin:/bin", "EMPTY="})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, e := range got {
		pairs = append(pairs, *e.Name+"="+*e.Value)
	}
	want := "PATH=/usr/bin:/bin A=1=2 EMPTY="
	if strings.Join(pairs, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(pairs, " "), want)
	}
}

func TestEnvVarsRejectMalformed(t *testing.T) {
	for _, kv := range []string{"NOVALUE", "=x", ""} {
		if _, err := envVars([]string{kv}); err == nil {
			t.Errorf("envVars(%q): got no error", kv)
		}
	}
}

func TestEveryRuntimeImageIsPinned(t *testing.T) {
	for name, rt := range sandbox.Runtimes {
		if !pinned(rt.Image) {
			t.Errorf("runtime %q image %q is not pinned by digest", name, rt.Image)
		}
	}
}

func TestPinned(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"busybox@sha256:" + strings.Repeat("a", 64), true},
		{"busybox:1.36", false},
		{"busybox@sha256:" + strings.Repeat("a", 63), false},
		{"busybox:1.36@sha256:" + strings.Repeat("A", 64), false},
		{"@sha256:" + strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		if got := pinned(tt.ref); got != tt.want {
			t.Errorf("pinned(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestOptionsValidateReportsEverything(t *testing.T) {
	err := withDefaults(Options{FetchImage: "busybox:latest"}).validate()
	if err == nil {
		t.Fatal("got no error for empty options")
	}
	for _, want := range []string{"logger", "subscription id", "resource group",
		"job name", "credential", "workspace stager", `"busybox:latest" is not pinned`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
