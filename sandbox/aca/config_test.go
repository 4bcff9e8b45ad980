package aca

import (
	"log/slog"
	"strings"
	"testing"
)

func TestConfigValidateReportsEverything(t *testing.T) {
	c := DefaultConfig()
	c.FetchImage = "busybox:1.36"
	c.MaxWallTime = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"subscription_id", "resource_group", "job_name",
		"staging_container_url", `"busybox:1.36" is not pinned`, "max_wall_time"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestOpenBuildsDriverWithoutRequests constructs the production wiring
// (azidentity, blob stager, log reader). Nothing may be contacted.
func TestOpenBuildsDriverWithoutRequests(t *testing.T) {
	c := DefaultConfig()
	c.SubscriptionID, c.ResourceGroup, c.JobName = fakeSub, fakeRG, fakeJob
	c.FetchImage = fetchImage
	c.StagingContainerURL = "https://acct.blob.core.windows.net/devmesh-staging"
	c.LogAnalyticsWorkspaceID = "ws-1"
	c.ManagedIdentityClientID = "11111111-2222-3333-4444-555555555555"
	d, err := Open(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if d.opts.Logs == nil || d.opts.MaxWallTime != c.MaxWallTime {
		t.Errorf("driver options not taken from the config: %+v", d.opts)
	}
}
