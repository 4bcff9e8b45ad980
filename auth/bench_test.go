package auth

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store/storetest"
)

// BenchmarkVerify measures the cryptographic and claims checks of one
// recruiter token, without the database check.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, storetest.Backends()[0])
	tok, _ := e.mustLogin(e.owner.Email)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.verify(ctx, tok, recruiterKind); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate measures what every request pays: verification
// plus the account or submission check in the database.
func BenchmarkAuthenticate(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name+"/recruiter", func(b *testing.B) {
			e := newEnv(b, be)
			tok, _ := e.mustLogin(e.owner.Email)
			for b.Loop() {
				if _, err := e.svc.AuthenticateRecruiter(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(be.Name+"/candidate", func(b *testing.B) {
			e := newEnv(b, be)
			tok, _ := e.mustCandidate()
			for b.Loop() {
				if _, err := e.svc.AuthenticateCandidate(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExchange measures invite exchanges: form parsing, the atomic
// open of the submission, the audit append (in memory here) and signing.
func BenchmarkExchange(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			e := newEnv(b, be)
			ctx := context.Background()
			var invites []string
			b.StopTimer()
			for range b.N {
				tok := randomToken(32)
				_, err := e.db.CreateSubmission(ctx, e.org.ID, e.asm.ID, "c@example.com",
					hashToken(tok), time.Now().Add(time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				invites = append(invites, tok)
			}
			b.StartTimer()
			for _, inv := range invites {
				r := httptest.NewRequest("POST", "/oauth/token",
					strings.NewReader(tokenForm(inv, TokenTypeInvite).Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if _, err := e.svc.exchange(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
