package store_test

import (
	"testing"

	"github.com/devmesh/devmesh/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t) }
