package task

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/goccy/go-yaml"
)

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	sample, _ := sampleFS.ReadFile("sample/" + ManifestFile)
	f.Add(sample)
	f.Add([]byte("limits:\n  memory: 1.5GiB\n  wall_time: 90\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to a manifest that decodes the same.
		enc, err := yaml.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode:\n%s\n%v", enc, err)
		}
		if !reflect.DeepEqual(normal(m), normal(m2)) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, m2)
		}
	})
}

// normal maps empty slices to nil, which YAML does not distinguish.
func normal(m Manifest) Manifest {
	for _, s := range []*[]string{&m.Commands.Run, &m.Commands.Test, &m.AI.Models} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(m.Rubric) == 0 {
		m.Rubric = nil
	}
	return m
}

func FuzzParseArchive(f *testing.F) {
	b, err := Sample()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b.Archive())
	f.Add(mustTarGz(f, validFiles()))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseArchive(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A bundle accepted once is accepted again from its canonical
		// archive, with the same digest.
		again, err := ParseArchive(bytes.NewReader(got.Archive()))
		if err != nil || again.Digest() != got.Digest() {
			t.Fatalf("canonical archive re-read: %v", err)
		}
	})
}
