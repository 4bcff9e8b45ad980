package relay

import (
	"encoding/json"
	"net/http"
	"time"
)

func nowUnix() int64 { return time.Now().Unix() }

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}
