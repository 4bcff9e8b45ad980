package blob_test

import (
	"testing"

	gcblob "gocloud.dev/blob"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
)

func mustBucket(t testing.TB, url string) *gcblob.Bucket {
	t.Helper()
	b, err := gcblob.OpenBucket(t.Context(), url)
	if err != nil {
		t.Fatalf("open bucket %q: %v", url, err)
	}
	return b
}

// bucketFixture opens a store over a gocloud bucket. Replace writes
// through the bucket without the put-if-absent condition.
func bucketFixture(t *testing.T, b *gcblob.Bucket, opts blob.Options) blobtest.Fixture {
	return blobtest.Fixture{
		Store: mustStore(t, blob.NewBucketBackend(b), opts),
		Raw: func(t *testing.T, key string) []byte {
			raw, err := b.ReadAll(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		},
		Replace: func(t *testing.T, key string, raw []byte) {
			if err := b.WriteAll(t.Context(), key, raw, nil); err != nil {
				t.Fatal(err)
			}
		},
	}
}
