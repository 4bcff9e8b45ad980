package blob_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
	"github.com/devmesh/devmesh/internal/testenv"
)

// The published development account of the Azure storage emulator.
const (
	azuriteAccount    = "devstoreaccount1"
	azuriteAPIVersion = "2025-11-05"
	azuriteKey        = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azuriteBucket creates a fresh container on the test Azurite.
func azuriteBucket(t *testing.T) *gcblob.Bucket {
	t.Helper()
	svc := testenv.AzuriteURL(t)
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.UniqueName("blob")
	// Azurite 3.35 refuses API versions newer than its own; the SDK's
	// default is newer, so pin the newest one Azurite speaks.
	opts := &container.ClientOptions{}
	opts.PerCallPolicies = []policy.Policy{apiVersion(azuriteAPIVersion)}
	cc, err := container.NewClientWithSharedKeyCredential(svc+"/"+name, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(t.Context(), nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	b, err := azureblob.OpenBucket(t.Context(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiVersion is a request policy that sets the storage API version
// header. It is a per-call policy, so it runs before signing.
type apiVersion string

func (v apiVersion) Do(req *policy.Request) (*http.Response, error) {
	// The SDK stores the header under its lowercase name, not the
	// canonical one, so replace that entry directly.
	req.Raw().Header["x-ms-version"] = []string{string(v)}
	return req.Next()
}

// s3Client returns a client of the test versitygw server.
func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	srv := testenv.S3Server(t)
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			srv.AccessKey, srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
}

// s3Bucket creates a fresh bucket on the test versitygw.
func s3Bucket(t *testing.T) *gcblob.Bucket {
	t.Helper()
	c := s3Client(t)
	name := testenv.UniqueName("blob")
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	b, err := s3blob.OpenBucket(t.Context(), c, name, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAzureConformance(t *testing.T) {
	testenv.AzuriteURL(t)
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		return bucketFixture(t, azuriteBucket(t), encrypted(t))
	})
}

func TestS3Conformance(t *testing.T) {
	testenv.S3Server(t)
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		return bucketFixture(t, s3Bucket(t), encrypted(t))
	})
}

// TestS3MultipartWriteOnce stores an object large enough for a multipart
// upload and checks that a second conditional multipart write of other
// bytes under the same key is refused by the server.
func TestS3MultipartWriteOnce(t *testing.T) {
	gb := s3Bucket(t)
	s := mustStore(t, blob.NewBucketBackend(gb), encrypted(t))
	b, d := blobtest.Content(t, 20<<20)

	info := blobtest.MustPut(t, s, "big", b)
	if !info.Created {
		t.Fatal("first Put: Created = false")
	}
	before, err := gb.Attributes(t.Context(), info.Key)
	if err != nil {
		t.Fatal(err)
	}
	// A multipart upload's ETag is "<md5 of part md5s>-<parts>".
	if !strings.Contains(before.ETag, "-") {
		t.Fatalf("ETag %s: the 20 MiB object was not uploaded in parts", before.ETag)
	}

	other := bytes.Repeat([]byte{7}, 20<<20)
	err = blob.NewBucketBackend(gb).Create(t.Context(), info.Key, bytes.NewReader(other))
	if !errors.Is(err, blob.ErrExists) {
		t.Fatalf("second conditional multipart write: got %v, want ErrExists", err)
	}
	w, err := gb.NewWriter(t.Context(), info.Key, &gcblob.WriterOptions{IfNotExist: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(other)
	if err := w.Close(); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("raw conditional write: got %v, want FailedPrecondition", err)
	}

	after, err := gb.Attributes(t.Context(), info.Key)
	if err != nil || after.ETag != before.ETag {
		t.Fatalf("ETag changed from %s to %s (%v)", before.ETag, after.ETag, err)
	}
	if again := blobtest.MustPut(t, s, "big", b); again.Created {
		t.Fatal("second Put of the same content: Created = true")
	}
	if got := blobtest.MustGet(t, s, "big", d); !bytes.Equal(got, b) {
		t.Fatal("20 MiB object read back different")
	}

	// A multipart upload whose content fails the digest check at its
	// very end must be aborted, not completed.
	_, claimed := blobtest.Content(t, 10)
	_, err = s.Put(t.Context(), "big", claimed, bytes.NewReader(other))
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("20 MiB Put under a wrong digest: got %v, want ErrDigestMismatch", err)
	}
	if _, err := s.Stat(t.Context(), "big", claimed); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after the refused multipart Put, Stat: got %v, want ErrNotFound", err)
	}
}
