package conformance

import (
	"testing"
)

func TestNegativeControlEscapes(t *testing.T) {
	RunEscapes(t, UnsandboxedForNegativeControl{}, false)
}
