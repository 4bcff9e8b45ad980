package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// ReadyChecker reports whether a dependency is ready to serve.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// ReadyFunc adapts a function to ReadyChecker.
type ReadyFunc func(ctx context.Context) error

// Ready calls f.
func (f ReadyFunc) Ready(ctx context.Context) error { return f(ctx) }

// HealthRoutes returns /healthz (the process answers) and /readyz (every
// check passes within two seconds; a failing check gives 503 naming it).
func HealthRoutes(checks map[string]ReadyChecker) []Route {
	return []Route{
		{Pattern: "GET /healthz", Handler: func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{Pattern: "GET /readyz", Handler: func(w http.ResponseWriter, r *http.Request) error {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			for name, c := range checks {
				if err := c.Ready(ctx); err != nil {
					return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s is not ready", name))
				}
			}
			return WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}},
	}
}

// SecurityTxt is the RFC 9116 security.txt body for contact, served at
// /.well-known/security.txt. expires must be less than a year ahead.
func SecurityTxt(contact, policyURL string, expires time.Time) string {
	return "Contact: " + contact + "\n" +
		"Expires: " + expires.UTC().Format(time.RFC3339) + "\n" +
		"Preferred-Languages: en\n" +
		"Policy: " + policyURL + "\n"
}

// SecurityTxtRoute serves the security.txt built by body for each request,
// so Expires always lies in the future.
func SecurityTxtRoute(body func() string) Route {
	return Route{Pattern: "GET /.well-known/security.txt", Handler: func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte(body()))
		return err
	}}
}
