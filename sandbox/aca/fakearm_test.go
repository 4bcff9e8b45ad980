package aca

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"
)

// Names of the fake's single subscription, resource group, job and
// environment.
const (
	fakeSub     = "00000000-0000-0000-0000-000000000001"
	fakeRG      = "rg-sandbox"
	fakeJob     = "devmesh-sandbox"
	fakeEnv     = "env-sandbox"
	fakeToken   = "fake-arm-token"
	fakeVersion = "2024-03-01"
)

// fakeARM is a test double of the few Azure Resource Manager endpoints
// of Microsoft.App that the driver calls, served over TLS so that the
// real SDK sends its bearer token. It is not Azure: it checks what the
// SDK sends (api-version, token, template override) and plays back
// execution states that a test scripts. Protocol violations are kept
// in problems and reported by the test's cleanup.
type fakeARM struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex // guards the fields below
	job      armappcontainers.Job
	env      armappcontainers.ManagedEnvironment
	execs    map[string]*fakeExec
	ops      map[string]int // async operation → polls left before done
	faults   map[string][]int
	attempts map[string]int // "METHOD suffix" → requests seen
	starts   []armappcontainers.JobExecutionTemplate
	stops    []string
	problems []string
	script   func(reads int) armappcontainers.JobExecutionRunningState
	next     int
}

// fakeExec is one execution the fake started.
type fakeExec struct {
	name    string
	reads   int
	stopped bool
	start   time.Time
	end     time.Time
}

func newFakeARM(t testing.TB) *fakeARM {
	t.Helper()
	f := &fakeARM{
		t:        t,
		job:      goodJob(),
		env:      goodEnv(),
		execs:    map[string]*fakeExec{},
		ops:      map[string]int{},
		faults:   map[string][]int{},
		attempts: map[string]int{},
		script:   finishAfter(2, armappcontainers.JobExecutionRunningStateSucceeded),
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.problems {
			t.Errorf("fakeARM: %s", p)
		}
	})
	return f
}

// finishAfter reports Processing, then Running, then final once the
// execution has been read n times.
func finishAfter(n int, final armappcontainers.JobExecutionRunningState) func(int) armappcontainers.JobExecutionRunningState {
	return func(reads int) armappcontainers.JobExecutionRunningState {
		switch {
		case reads == 0:
			return armappcontainers.JobExecutionRunningStateProcessing
		case reads < n:
			return armappcontainers.JobExecutionRunningStateRunning
		}
		return final
	}
}

// goodJob is a job set up as docs/azure.md asks.
func goodJob() armappcontainers.Job {
	ws := func() []*armappcontainers.VolumeMount {
		return []*armappcontainers.VolumeMount{{
			VolumeName: to.Ptr("workspace"), MountPath: to.Ptr("/workspace"),
		}}
	}
	return armappcontainers.Job{
		ID:       to.Ptr(jobID()),
		Name:     to.Ptr(fakeJob),
		Identity: &armappcontainers.ManagedServiceIdentity{Type: to.Ptr(armappcontainers.ManagedServiceIdentityTypeNone)},
		Properties: &armappcontainers.JobProperties{
			EnvironmentID: to.Ptr(envID()),
			Configuration: &armappcontainers.JobConfiguration{
				TriggerType:       to.Ptr(armappcontainers.TriggerTypeManual),
				ReplicaTimeout:    to.Ptr[int32](1800),
				ReplicaRetryLimit: to.Ptr[int32](0),
				ManualTriggerConfig: &armappcontainers.JobConfigurationManualTriggerConfig{
					Parallelism: to.Ptr[int32](1), ReplicaCompletionCount: to.Ptr[int32](1),
				},
				Registries: []*armappcontainers.RegistryCredentials{{
					Server: to.Ptr("example.azurecr.io"), Username: to.Ptr("pull"),
					PasswordSecretRef: to.Ptr("registry-password"),
				}},
				Secrets: []*armappcontainers.Secret{{Name: to.Ptr("registry-password")}},
			},
			Template: &armappcontainers.JobTemplate{
				Containers: []*armappcontainers.Container{{
					Name: to.Ptr("run"), Image: to.Ptr("busybox"), VolumeMounts: ws(),
				}},
				InitContainers: []*armappcontainers.InitContainer{{
					Name: to.Ptr("fetch"), Image: to.Ptr("busybox"), VolumeMounts: ws(),
				}},
				Volumes: []*armappcontainers.Volume{{
					Name: to.Ptr("workspace"), StorageType: to.Ptr(armappcontainers.StorageTypeEmptyDir),
				}},
			},
		},
	}
}

func goodEnv() armappcontainers.ManagedEnvironment {
	return armappcontainers.ManagedEnvironment{
		ID:   to.Ptr(envID()),
		Name: to.Ptr(fakeEnv),
		Properties: &armappcontainers.ManagedEnvironmentProperties{
			VnetConfiguration: &armappcontainers.VnetConfiguration{
				Internal:               to.Ptr(true),
				InfrastructureSubnetID: to.Ptr("/subscriptions/" + fakeSub + "/resourceGroups/" + fakeRG + "/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sandbox"),
			},
		},
	}
}

func jobID() string {
	return "/subscriptions/" + fakeSub + "/resourceGroups/" + fakeRG +
		"/providers/Microsoft.App/jobs/" + fakeJob
}

func envID() string {
	return "/subscriptions/" + fakeSub + "/resourceGroups/" + fakeRG +
		"/providers/Microsoft.App/managedEnvironments/" + fakeEnv
}

// failFirst makes the first len(codes) requests whose method is method
// and whose path ends with suffix fail with those statuses.
func (f *fakeARM) failFirst(method, suffix string, codes ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method+" "+suffix] = codes
}

func (f *fakeARM) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeARM) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := r.Header.Get("Authorization"); got != "Bearer "+fakeToken {
		f.problem("%s %s: Authorization %q, want the fake bearer token", r.Method, r.URL.Path, got)
		writeARMError(w, http.StatusUnauthorized, "InvalidAuthenticationToken")
		return
	}
	if got := r.URL.Query().Get("api-version"); got != fakeVersion {
		f.problem("%s %s: api-version %q, want %q", r.Method, r.URL.Path, got, fakeVersion)
		writeARMError(w, http.StatusBadRequest, "InvalidApiVersionParameter")
		return
	}
	if f.injectFault(w, r) {
		return
	}
	f.route(w, r)
}

// injectFault answers r with a scripted failure status, if one is due.
func (f *fakeARM) injectFault(w http.ResponseWriter, r *http.Request) bool {
	for key, codes := range f.faults {
		method, suffix, _ := strings.Cut(key, " ")
		if r.Method != method || !strings.HasSuffix(r.URL.Path, suffix) {
			continue
		}
		f.attempts[key]++
		if len(codes) == 0 {
			return false
		}
		f.faults[key] = codes[1:]
		writeARMError(w, codes[0], "Injected")
		return true
	}
	return false
}

func (f *fakeARM) route(w http.ResponseWriter, r *http.Request) {
	jobPath := "/subscriptions/" + fakeSub + "/resourceGroups/" + fakeRG +
		"/providers/Microsoft.App/jobs/" + fakeJob
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == jobPath:
		writeJSON(w, http.StatusOK, f.job)
	case r.Method == http.MethodGet && p == envID():
		writeJSON(w, http.StatusOK, f.env)
	case r.Method == http.MethodPost && p == jobPath+"/start":
		f.start(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/fake/operations/"):
		f.operation(w, strings.TrimPrefix(p, "/fake/operations/"))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/fake/results/"):
		f.result(w, strings.TrimPrefix(p, "/fake/results/"))
	case r.Method == http.MethodPost && strings.HasPrefix(p, jobPath+"/executions/") &&
		strings.HasSuffix(p, "/stop"):
		f.stop(w, strings.TrimSuffix(strings.TrimPrefix(p, jobPath+"/executions/"), "/stop"))
	case r.Method == http.MethodGet && strings.HasPrefix(p, jobPath+"/executions/"):
		f.execution(w, strings.TrimPrefix(p, jobPath+"/executions/"))
	default:
		f.problem("unexpected request %s %s", r.Method, p)
		writeARMError(w, http.StatusNotFound, "ResourceNotFound")
	}
}

// start records the template override and answers as ARM does for a
// long-running POST: 202 with both polling headers.
func (f *fakeARM) start(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.problem("start: Content-Type %q, want application/json", ct)
	}
	var tmpl armappcontainers.JobExecutionTemplate
	if err := json.Unmarshal(body, &tmpl); err != nil || len(body) == 0 {
		f.problem("start: body %q is no execution template: %v", body, err)
		writeARMError(w, http.StatusBadRequest, "InvalidRequestContent")
		return
	}
	f.starts = append(f.starts, tmpl)
	f.next++
	name := fmt.Sprintf("%s-exec%d", fakeJob, f.next)
	f.execs[name] = &fakeExec{name: name, start: time.Now()}
	op := "start-" + name
	f.ops[op] = 1
	w.Header().Set("Azure-AsyncOperation", f.url("/fake/operations/"+op))
	w.Header().Set("Location", f.url("/fake/results/"+op))
	writeJSON(w, http.StatusAccepted, base(name))
}

// operation answers an Azure-AsyncOperation poll: in progress once,
// then succeeded.
func (f *fakeARM) operation(w http.ResponseWriter, op string) {
	left, ok := f.ops[op]
	if !ok {
		f.problem("poll of unknown operation %q", op)
		writeARMError(w, http.StatusNotFound, "OperationNotFound")
		return
	}
	status := "Succeeded"
	if left > 0 {
		f.ops[op] = left - 1
		status = "InProgress"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status})
}

// result answers a Location poll. Stop operations, which carry only a
// Location header, stay in progress (202) for one poll.
func (f *fakeARM) result(w http.ResponseWriter, op string) {
	left, ok := f.ops[op]
	if !ok {
		f.problem("result of unknown operation %q", op)
		writeARMError(w, http.StatusNotFound, "OperationNotFound")
		return
	}
	if strings.HasPrefix(op, "stop-") && left > 0 {
		f.ops[op] = left - 1
		w.Header().Set("Location", f.url("/fake/results/"+op))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	_, name, _ := strings.Cut(op, "-")
	writeJSON(w, http.StatusOK, base(name))
}

func (f *fakeARM) stop(w http.ResponseWriter, name string) {
	e, ok := f.execs[name]
	if !ok {
		writeARMError(w, http.StatusNotFound, "ResourceNotFound")
		return
	}
	f.stops = append(f.stops, name)
	if !e.stopped && e.end.IsZero() {
		e.stopped, e.end = true, time.Now()
	}
	op := "stop-" + name
	f.ops[op] = 1
	w.Header().Set("Location", f.url("/fake/results/"+op))
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeARM) execution(w http.ResponseWriter, name string) {
	e, ok := f.execs[name]
	if !ok {
		writeARMError(w, http.StatusNotFound, "ResourceNotFound")
		return
	}
	status := armappcontainers.JobExecutionRunningStateStopped
	if !e.stopped {
		status = f.script(e.reads)
	}
	e.reads++
	props := &armappcontainers.JobExecutionProperties{
		Status: to.Ptr(status), StartTime: to.Ptr(e.start),
	}
	if terminal(status) {
		if e.end.IsZero() {
			e.end = time.Now()
		}
		props.EndTime = to.Ptr(e.end)
	}
	writeJSON(w, http.StatusOK, armappcontainers.JobExecution{
		ID: to.Ptr(jobID() + "/executions/" + name), Name: to.Ptr(name),
		Properties: props,
	})
}

func (f *fakeARM) url(path string) string {
	return f.srv.URL + path + "?api-version=" + fakeVersion
}

func base(name string) armappcontainers.JobExecutionBase {
	return armappcontainers.JobExecutionBase{
		ID: to.Ptr(jobID() + "/executions/" + name), Name: to.Ptr(name),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeARMError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{
		"code": code, "message": "fake ARM: " + code,
	}})
}
