package aca

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/sandbox"
)

func TestPreflightPassesForDocumentedJob(t *testing.T) {
	h := newHarness(t)
	res, err := h.d.Preflight(t.Context())
	if err != nil {
		t.Fatalf("Preflight: %v\n%v", err, res)
	}
	if len(res) != 8 {
		t.Errorf("got %d probes, want 8", len(res))
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("probe %q failed: %s", r.Name, r.Detail)
		}
	}
}

// TestPreflightFails weakens the job or its environment one way at a
// time and expects exactly the probe guarding against it to fail.
func TestPreflightFails(t *testing.T) {
	cfg := func(j *armappcontainers.Job) *armappcontainers.JobConfiguration {
		return j.Properties.Configuration
	}
	tmpl := func(j *armappcontainers.Job) *armappcontainers.JobTemplate {
		return j.Properties.Template
	}
	tests := []struct {
		name  string
		job   func(*armappcontainers.Job)
		env   func(*armappcontainers.ManagedEnvironment)
		probe string
	}{
		{name: "schedule trigger", probe: probeTrigger, job: func(j *armappcontainers.Job) {
			cfg(j).TriggerType = to.Ptr(armappcontainers.TriggerTypeSchedule)
		}},
		{name: "trigger unset", probe: probeTrigger, job: func(j *armappcontainers.Job) {
			cfg(j).TriggerType = nil
		}},
		{name: "replica retries", probe: probeReplicas, job: func(j *armappcontainers.Job) {
			cfg(j).ReplicaRetryLimit = to.Ptr[int32](2)
		}},
		{name: "parallel replicas", probe: probeReplicas, job: func(j *armappcontainers.Job) {
			cfg(j).ManualTriggerConfig.Parallelism = to.Ptr[int32](3)
		}},
		{name: "replica timeout below wall limit", probe: probeTimeout, job: func(j *armappcontainers.Job) {
			cfg(j).ReplicaTimeout = to.Ptr[int32](600)
		}},
		{name: "system identity", probe: probeIdentity, job: func(j *armappcontainers.Job) {
			j.Identity.Type = to.Ptr(armappcontainers.ManagedServiceIdentityTypeSystemAssigned)
		}},
		{name: "user identity", probe: probeIdentity, job: func(j *armappcontainers.Job) {
			j.Identity = &armappcontainers.ManagedServiceIdentity{
				Type: to.Ptr(armappcontainers.ManagedServiceIdentityTypeUserAssigned),
			}
		}},
		{name: "application secret", probe: probeSecrets, job: func(j *armappcontainers.Job) {
			cfg(j).Secrets = append(cfg(j).Secrets, &armappcontainers.Secret{Name: to.Ptr("db-password")})
		}},
		{name: "template env", probe: probeSecrets, job: func(j *armappcontainers.Job) {
			tmpl(j).Containers[0].Env = []*armappcontainers.EnvironmentVar{{
				Name: to.Ptr("TOKEN"), Value: to.Ptr("x"),
			}}
		}},
		{name: "workspace on a file share", probe: probeVolume, job: func(j *armappcontainers.Job) {
			tmpl(j).Volumes[0].StorageType = to.Ptr(armappcontainers.StorageTypeAzureFile)
		}},
		{name: "main container not mounting workspace", probe: probeVolume, job: func(j *armappcontainers.Job) {
			tmpl(j).Containers[0].VolumeMounts[0].MountPath = to.Ptr("/data")
		}},
		{name: "init container missing", probe: probeVolume, job: func(j *armappcontainers.Job) {
			tmpl(j).InitContainers = nil
		}},
		{name: "sidecar container", probe: probeVolume, job: func(j *armappcontainers.Job) {
			tmpl(j).Containers = append(tmpl(j).Containers, &armappcontainers.Container{Name: to.Ptr("side")})
		}},
		{name: "external environment", probe: probeInternal, env: func(e *armappcontainers.ManagedEnvironment) {
			e.Properties.VnetConfiguration.Internal = to.Ptr(false)
		}},
		{name: "environment without own network", probe: probeInternal, env: func(e *armappcontainers.ManagedEnvironment) {
			e.Properties.VnetConfiguration = nil
		}},
		{name: "environment id missing", probe: probeInternal, job: func(j *armappcontainers.Job) {
			j.Properties.EnvironmentID = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.job != nil {
				tt.job(&h.arm.job)
			}
			if tt.env != nil {
				tt.env(&h.arm.env)
			}
			res, err := h.d.Preflight(t.Context())
			if err == nil {
				t.Fatalf("Preflight passed, want probe %q to fail", tt.probe)
			}
			if failed := failedProbes(res); len(failed) != 1 || failed[0] != tt.probe {
				t.Errorf("got failed probes %q, want only %q", failed, tt.probe)
			}
		})
	}
}

func failedProbes(res []sandbox.ProbeResult) []string {
	var out []string
	for _, r := range res {
		if !r.OK {
			out = append(out, r.Name)
		}
	}
	return out
}

func TestPreflightMissingJob(t *testing.T) {
	h := newHarness(t)
	h.arm.failFirst(http.MethodGet, "/jobs/"+fakeJob, http.StatusNotFound)
	res, err := h.d.Preflight(t.Context())
	if err == nil || !strings.Contains(err.Error(), fakeJob) {
		t.Fatalf("got error %v, want one naming the job", err)
	}
	if len(res) == 0 || res[0].Name != probeJob || res[0].OK {
		t.Errorf("got probes %v, want %q failing first", res, probeJob)
	}
	for _, r := range res[1:] {
		if r.OK {
			t.Errorf("probe %q passed without a job to check", r.Name)
		}
	}
}

// TestPreflightIsRecheckedAfterItsTTL weakens the job after a passing
// preflight and expects Run to notice once the cached pass expires.
func TestPreflightIsRecheckedAfterItsTTL(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(o *Options) { o.Now = func() time.Time { return now } })
	mustRun(t, h, testJob("ttl-1"))

	h.arm.mu.Lock()
	h.arm.job.Identity.Type = to.Ptr(armappcontainers.ManagedServiceIdentityTypeSystemAssigned)
	h.arm.mu.Unlock()
	mustRun(t, h, testJob("ttl-2")) // within the TTL: cached pass

	now = now.Add(preflightTTL)
	if _, err := h.d.Run(t.Context(), testJob("ttl-3")); err == nil {
		t.Fatalf("Run passed after the job gained an identity and the TTL expired")
	}
	if len(h.arm.starts) != 2 {
		t.Errorf("got %d executions, want 2", len(h.arm.starts))
	}
}
