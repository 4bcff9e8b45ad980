package blob_test

import (
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
)

func TestLocalConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		return localFixture(t, encrypted(t))
	})
}

func TestLocalPlaintextConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		return localFixture(t, blob.Options{Plaintext: true})
	})
}

func TestMemConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		return bucketFixture(t, mustBucket(t, "mem://"), encrypted(t))
	})
}
