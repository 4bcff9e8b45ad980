package audit

import (
	"bytes"
	"strings"
	"testing"
)

func TestVerifyCommand(t *testing.T) {
	db := mustSQLite(t)
	e := newEnv(t, db)
	seedTen(t, e)
	var out, errOut bytes.Buffer
	if err := VerifyCommand(t.Context(), db, testVerifierKey(t), &out, &errOut); err != nil {
		t.Fatalf("VerifyCommand: %v (%s)", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "ok: 10 events verified") || errOut.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want an ok line and no progress bar off a terminal", out.String(), errOut.String())
	}

	tamper(t, db, `UPDATE audit_events SET kind = 'ui.blur' WHERE idx = 6`)
	out.Reset()
	err := VerifyCommand(t.Context(), db, testVerifierKey(t), &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "FAIL: event 6") {
		t.Errorf("after tampering: err %v, stdout %q; want a failure naming event 6", err, out.String())
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	progressBar(&b)(5, 10)
	if got := b.String(); got != "\r["+strings.Repeat("#", 20)+strings.Repeat(".", 20)+"]  50% 5/10" {
		t.Errorf("progress bar = %q", got)
	}
}
