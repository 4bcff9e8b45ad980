package auth

import (
	"context"
	"testing"

	"github.com/devmesh/devmesh/store/storetest"
)

// FuzzVerify feeds arbitrary strings to the verification path. Nothing may
// panic, and nothing but the one genuine token may be accepted: no
// re-encoding, truncation or splice of it.
func FuzzVerify(f *testing.F) {
	e := newEnv(f, storetest.Backends()[0])
	genuine, _ := e.mustLogin(e.owner.Email)
	f.Add(genuine)
	f.Add(genuine + "=")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := e.svc.verify(context.Background(), tok, recruiterKind)
		if err == nil && tok != genuine {
			t.Fatalf("accepted a token that was not issued: %q", tok)
		}
	})
}
