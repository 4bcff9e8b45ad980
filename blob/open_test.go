package blob_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/testenv"
)

func TestOpenFileURL(t *testing.T) {
	dir := t.TempDir()
	opts := encrypted(t)
	s, err := blob.Open(t.Context(), "file://"+dir, opts.Keys, opts.DataKeys, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, d := blobtest.Content(t, 1000)
	blobtest.MustPut(t, s, "tasks", b)
	if got := blobtest.MustGet(t, s, "tasks", d); !bytes.Equal(got, b) {
		t.Fatal("read back different bytes")
	}
	if _, ok := s.Backend().(*blob.LocalBackend); !ok {
		t.Fatalf("file URL opened %T, want the link-based LocalBackend", s.Backend())
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	opts := encrypted(t)
	for _, u := range []string{
		"", "gs://bucket", "file://host/path", "file://", "fileblob:///x",
		"http://user:hunter2@example.invalid/x", "%zz",
	} {
		_, err := blob.Open(t.Context(), u, opts.Keys, opts.DataKeys, nil)
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("Open(%q): got %v, want invalid", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): error %q reveals the password", u, err)
		}
	}
}

func TestOpenRequiresEncryption(t *testing.T) {
	opts := encrypted(t)
	if _, err := blob.Open(t.Context(), "mem://", nil, opts.DataKeys, nil); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Open without a keyring: got %v, want invalid", err)
	}
	if _, err := blob.Open(t.Context(), "mem://", opts.Keys, nil, nil); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Open without data keys: got %v, want invalid", err)
	}
}

// TestOpenS3URL opens versitygw through the documented URL form, with
// credentials from the environment as in production.
func TestOpenS3URL(t *testing.T) {
	srv := testenv.S3Server(t)
	name := testenv.UniqueName("open")
	if _, err := s3Client(t).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
	t.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
	opts := encrypted(t)
	url := "s3://" + name + "?endpoint=" + srv.Endpoint + "&use_path_style=true&region=us-east-1"
	s, err := blob.Open(t.Context(), url, opts.Keys, opts.DataKeys, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, d := blobtest.Content(t, 1000)
	if info := blobtest.MustPut(t, s, "tasks", b); !info.Created {
		t.Fatal("first Put: Created = false")
	}
	if info := blobtest.MustPut(t, s, "tasks", b); info.Created {
		t.Fatal("second Put: Created = true")
	}
	if got := blobtest.MustGet(t, s, "tasks", d); !bytes.Equal(got, b) {
		t.Fatal("read back different bytes")
	}
}
