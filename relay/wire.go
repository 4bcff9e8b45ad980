package relay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

func nowUnix() int64 { return time.Now().Unix() }

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// A known length and a flush let the client finish reading before
	// the handler returns (it settles the ledger after writing).
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}
